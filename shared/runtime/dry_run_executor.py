"""The dry-run executor: answers every operator with mock content valid for its output concept, calls no
model, fetches nothing and writes nothing (mthds.md §6.1 step 3). Pure.

Templates are still rendered, so sandbox, undefined-name and syntax faults surface as in a real run.
Mocks come from the output concept's JSON Schema and are deterministic for the call's seed.
"""

from __future__ import annotations

from typing import Any, Final

from shared.language.content_schema import concept_json_schema
from shared.language.library import Library
from shared.language.natives import NATIVE_DOMAIN
from shared.language.pipe_blueprints import (
    JudgeLevel,
    PipeDocGen,
    PipeExtract,
    PipeImgGen,
    PipeJudge,
    PipeLLM,
)
from shared.runtime.operator_call import OperatorCall, Produced
from shared.runtime.operator_prompts import render_operator_templates
from shared.runtime.schema_mocks import mock_from_schema
from shared.runtime.template_views import TemplateViews

DRY_LIST_LENGTH: Final = 3  # the reference's model mocks give variable lists three items
DRY_PAGE_COUNT: Final = 4
_TEXT_LIMIT: Final = 256
_DOC_MIME: Final = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}


class DryRunExecutor:
    """An `OperatorExecutor` for dry runs."""

    def __init__(self, library: Library) -> None:
        self.library = library
        self.views = TemplateViews(library, strict_fields=False)
        self._schemas: dict[str, dict[str, Any]] = {}

    async def run_operator(self, call: OperatorCall) -> Produced:
        rendered = render_operator_templates(call, self.views)
        blueprint = call.pipe.blueprint
        count = (call.output.count or DRY_LIST_LENGTH) if call.output.is_list else 1
        if isinstance(blueprint, PipeLLM) and self._is_text(call.output.concept) and not call.output.is_list:
            text = f"DRY RUN: llm_gen_text • pipe={call.pipe.code} • prompt={rendered.get('prompt', '')}"
            return Produced({"text": text[:_TEXT_LIMIT]})
        if isinstance(blueprint, PipeJudge):
            return Produced(self._verdicts(blueprint))
        if isinstance(blueprint, PipeExtract):
            return Produced.of_items([_page(index) for index in range(1, DRY_PAGE_COUNT + 1)])
        if isinstance(blueprint, PipeImgGen):
            return self._shaped(call, [_image(call.pipe.code, index) for index in range(1, count + 1)])
        if isinstance(blueprint, PipeDocGen):
            filename = f"{rendered.get('filename') or call.pipe.code}.{blueprint.format}"
            document = {
                "url": f"dry-run://documents/{filename}",
                "mime_type": _DOC_MIME[blueprint.format],
                "filename": filename,
            }
            return Produced(document)
        return self._shaped(
            call, [self._mock(call.output.concept, f"{call.seed}#{index}") for index in range(count)]
        )

    def _shaped(self, call: OperatorCall, contents: list[Any]) -> Produced:
        return Produced.of_items(contents) if call.output.is_list else Produced(contents[0])

    def _is_text(self, concept: str) -> bool:
        lineage = self.library.lineage(concept)
        return f"{NATIVE_DOMAIN}.Text" in lineage and self.library.structure_of(
            concept
        ) == self.library.structure_of(f"{NATIVE_DOMAIN}.Text")

    def _mock(self, concept: str, seed: str) -> Any:
        schema = self._schemas.get(concept)
        if schema is None:
            schema = self._schemas[concept] = concept_json_schema(self.library, concept)
        if not schema:
            return {
                "text": "DRY RUN: content"
            }  # a shapeless concept (Anything, Dynamic) takes a Text stand-in
        return mock_from_schema(schema, seed)

    def _verdicts(self, blueprint: PipeJudge) -> dict[str, Any]:
        if blueprint.questions is None:
            return _verdict(blueprint.options, blueprint.levels)
        return {
            name: _verdict(question.options, question.levels)
            for name, question in blueprint.questions.items()
        }


def _verdict(options: dict[str, str] | None, levels: list[str | JudgeLevel] | None) -> dict[str, Any]:
    if options:
        return {"choice": next(iter(options)), "confidence": 1.0, "probabilities": None}
    if levels:
        first = levels[0]
        label = first.label if isinstance(first, JudgeLevel) else first
        return {"level": 0, "label": label, "confidence": 1.0, "probabilities": None, "position": None}
    return {"yes_no": True, "probability": 1.0}


def _page(index: int) -> dict[str, Any]:
    return {
        "text_and_images": {
            "text": {"text": f"DRY RUN: OCR text (page {index})"},
            "images": [],
            "raw_html": None,
        },
        "page_view": None,
    }


def _image(pipe: str, index: int) -> dict[str, Any]:
    return {
        "url": f"https://dry-run.invalid/images/{pipe}-{index}.png",
        "mime_type": "image/png",
        "width": 1024,
        "height": 1024,
    }
