"""Blueprints of the 13 executable pipe types and of pipe signatures (mthds.md §2). Pure.

Structural rules only (closed keys, types, exclusive fields); name grammars, template roots and
wiring are checked by `blueprint_checks.py` and the library validator, which can locate each fault.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Closed(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class InputTable(_Closed):
    """Expanded input form `name = { concept = "X?", hints = {...} }`."""

    concept: str
    hints: dict[str, str] | None = None


InputDecl = str | InputTable


class LLMSetting(_Closed):
    model: str
    temperature: float = Field(ge=0, le=1)
    max_tokens: int | Literal["auto"] | None = None
    image_detail: Literal["high", "low", "auto"] | None = None
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"] | None = None
    reasoning_budget: int | None = Field(default=None, gt=0)
    description: str | None = None

    @model_validator(mode="after")
    def _one_reasoning(self) -> LLMSetting:
        if self.reasoning_effort is not None and self.reasoning_budget is not None:
            msg = "'reasoning_effort' and 'reasoning_budget' are exclusive"
            raise ValueError(msg)
        return self


class PlainModelSetting(_Closed):
    model: str
    description: str | None = None


class ExtractSetting(PlainModelSetting):
    max_nb_images: int | None = Field(default=None, ge=0)
    image_min_size: int | None = Field(default=None, ge=0)


class ImgGenSetting(PlainModelSetting):
    quality: Literal["low", "medium", "high"] | None = None
    nb_steps: int | None = Field(default=None, gt=0)
    guidance_scale: float | None = Field(default=None, gt=0)
    is_moderated: bool | None = None
    safety_tolerance: int | None = Field(default=None, ge=1, le=6)


class SearchSetting(PlainModelSetting):
    include_images: bool = False
    include_inline_citations: bool = True
    max_results: int | None = Field(default=None, ge=1)


class PipeStep(_Closed):
    """A step that runs a pipe (sequence step or parallel branch)."""

    pipe: str
    result: str | None = None
    nb_output: int | None = None
    multiple_output: bool | None = None
    batch_over: str | None = None
    batch_as: str | None = None


class BindingStep(_Closed):
    """A sequence step `{ from = "<path>", result = "<name>" }`."""

    from_: str = Field(alias="from")
    result: str


class _PipeBase(_Closed):
    description: str
    inputs: dict[str, InputDecl] = Field(default_factory=dict[str, InputDecl])
    output: str


class PipeLLM(_PipeBase):
    type: Literal["PipeLLM"]
    prompt: str | None = None
    system_prompt: str | None = None
    model: str | LLMSetting | None = None
    model_to_structure: str | LLMSetting | None = None
    structuring_method: Literal["direct", "preliminary_text"] | None = None
    templating_style: str | dict[str, str] | None = None


class ComposeTemplate(_Closed):
    template: str
    category: Literal["basic", "expression", "html", "markdown", "mermaid", "llm_prompt", "img_gen_prompt"]
    templating_style: dict[str, str] | None = None
    extra_context: dict[str, Any] | None = None


class PipeCompose(_PipeBase):
    type: Literal["PipeCompose"]
    template: str | ComposeTemplate | None = None
    # `construct` would shadow a BaseModel method, hence the alias.
    construct_: dict[str, Any] | None = Field(default=None, alias="construct")

    @model_validator(mode="after")
    def _one_mode(self) -> PipeCompose:
        if (self.template is None) == (self.construct_ is None):
            msg = "exactly one of 'template' and 'construct' is required"
            raise ValueError(msg)
        return self


class PipeStructure(_PipeBase):
    type: Literal["PipeStructure"]
    model: str | LLMSetting | None = None


class JudgeLevel(_Closed):
    label: str | None = None
    description: str | None = None


class _JudgeKind(_Closed):
    """The verdict kind fields shared by a single question and each of several questions."""

    options: dict[str, str] | None = None
    levels: list[str | JudgeLevel] | None = None
    criteria: dict[str, str] | None = None
    threshold: float | None = Field(default=None, gt=0, lt=1)

    @model_validator(mode="after")
    def _check_kind(self) -> _JudgeKind:
        if self.options is not None and self.levels is not None:
            msg = "'options' (choice) and 'levels' (rating) are exclusive"
            raise ValueError(msg)
        if self.options is not None and len([key for key in self.options if key.strip()]) < 2:
            msg = "a choice question needs at least two non-empty option keys"
            raise ValueError(msg)
        if self.levels is not None:
            if len(self.levels) < 2:
                msg = "a rating question needs at least two levels"
                raise ValueError(msg)
            labels = [level.label if isinstance(level, JudgeLevel) else level for level in self.levels]
            named = [label for label in labels if label]
            if named and (len(named) != len(labels) or len(set(named)) != len(named)):
                msg = "level labels are all-or-none and distinct"
                raise ValueError(msg)
        is_yes_no = self.options is None and self.levels is None
        if not is_yes_no and (self.criteria is not None or self.threshold is not None):
            msg = "'criteria' and 'threshold' are for yes/no questions only"
            raise ValueError(msg)
        if self.criteria is not None and (
            set(self.criteria) != {"yes", "no"} or not all(text.strip() for text in self.criteria.values())
        ):
            msg = "'criteria' needs non-empty 'yes' and 'no' entries"
            raise ValueError(msg)
        return self


class JudgeQuestion(_JudgeKind):
    question: str


class PipeJudge(_PipeBase, _JudgeKind):
    type: Literal["PipeJudge"]
    prompt: str = Field(min_length=1)
    question: str | None = None
    questions: dict[str, JudgeQuestion] | None = None
    model: str | PlainModelSetting | None = None

    @model_validator(mode="after")
    def _one_form(self) -> PipeJudge:
        if (self.question is None) == (self.questions is None):
            msg = "exactly one of 'question' and 'questions' is required"
            raise ValueError(msg)
        if self.questions is not None and any(
            value is not None for value in (self.options, self.levels, self.criteria, self.threshold)
        ):
            msg = "with 'questions', each question carries its own options, levels or criteria"
            raise ValueError(msg)
        return self


class PipeExtract(_PipeBase):
    type: Literal["PipeExtract"]
    model: str | ExtractSetting | None = None
    max_page_images: int | None = None
    page_image_captions: bool | None = None
    page_views: bool | None = None
    page_views_dpi: int | None = None
    render_js: bool | None = None
    include_raw_html: bool | None = None


AspectRatio = Literal[
    "square", "landscape_4_3", "landscape_3_2", "landscape_16_9", "landscape_21_9", "landscape_4_1",
    "landscape_8_1", "portrait_3_4", "portrait_2_3", "portrait_9_16", "portrait_9_21", "portrait_1_4",
    "portrait_1_8",
]  # fmt: skip


class PipeImgGen(_PipeBase):
    type: Literal["PipeImgGen"]
    prompt: str
    negative_prompt: str | None = None
    model: str | ImgGenSetting | None = None
    aspect_ratio: AspectRatio | None = None
    size: str | None = Field(default=None, pattern=r"^(0\.5k|1k|2k|4k|\d+x\d+)$")
    is_raw: bool | None = None
    seed: int | Literal["auto"] | None = None
    background: Literal["transparent", "opaque", "auto"] | None = None
    output_format: Literal["png", "jpeg", "webp"] | None = None

    @model_validator(mode="after")
    def _size_or_ratio(self) -> PipeImgGen:
        if self.size is not None and "x" in self.size and self.aspect_ratio is not None:
            msg = "an exact 'size' excludes 'aspect_ratio'"
            raise ValueError(msg)
        return self


class PipeSearch(_PipeBase):
    type: Literal["PipeSearch"]
    prompt: str
    model: str | SearchSetting | None = None
    include_images: bool | None = None
    max_results: int | None = Field(default=None, ge=1)
    from_date: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    to_date: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    include_domains: list[str] | None = None
    exclude_domains: list[str] | None = None


class PipeDocGen(_PipeBase):
    type: Literal["PipeDocGen"]
    format: Literal["pdf", "xlsx", "docx", "pptx"]
    template: str | None = None
    template_file: str | None = None
    filename: str | None = None
    model: str | PlainModelSetting | None = None

    @model_validator(mode="after")
    def _template_rules(self) -> PipeDocGen:
        if self.template is not None and self.template_file is not None:
            msg = "'template' and 'template_file' are exclusive"
            raise ValueError(msg)
        if self.template is not None and self.format != "pdf":
            msg = "an inline 'template' is for format 'pdf' only"
            raise ValueError(msg)
        if self.format == "pptx" and self.template_file is None:
            msg = "format 'pptx' needs a 'template_file'"
            raise ValueError(msg)
        if self.template_file is not None and not self.template_file.endswith(f".{self.format}"):
            msg = f"'template_file' must end with '.{self.format}'"
            raise ValueError(msg)
        return self


class PipeFunc(_PipeBase):
    type: Literal["PipeFunc"]
    function_name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")


class PipeSequence(_PipeBase):
    type: Literal["PipeSequence"]
    steps: list[PipeStep | BindingStep] = Field(min_length=1)


class PipeParallel(_PipeBase):
    type: Literal["PipeParallel"]
    branches: list[PipeStep] = Field(min_length=1)
    add_each_output: bool = False


class PipeCondition(_PipeBase):
    type: Literal["PipeCondition"]
    expression: str | None = None
    expression_template: str | None = None
    outcomes: dict[str, str] = Field(min_length=1)
    default_outcome: str
    add_alias_from_expression_to: str | None = None

    @model_validator(mode="after")
    def _one_expression(self) -> PipeCondition:
        if (self.expression is None) == (self.expression_template is None):
            msg = "exactly one of 'expression' and 'expression_template' is required"
            raise ValueError(msg)
        return self


class PipeBatch(_PipeBase):
    type: Literal["PipeBatch"]
    branch_pipe_code: str
    input_list_name: str
    input_item_name: str = Field(min_length=1)


class PipeSignature(_Closed):
    """A contract without implementation: a typeless table of description/inputs/output/signature_for."""

    type: Literal["PipeSignature"] = Field(default="PipeSignature", exclude=True)
    description: str
    inputs: dict[str, InputDecl] = Field(default_factory=dict[str, InputDecl])
    output: str
    signature_for: str | None = None


OperatorBlueprint = PipeLLM | PipeCompose | PipeStructure | PipeJudge | PipeExtract | PipeImgGen | PipeSearch
ControllerBlueprint = PipeSequence | PipeParallel | PipeCondition | PipeBatch

PipeBlueprint = Annotated[
    OperatorBlueprint | PipeDocGen | PipeFunc | ControllerBlueprint | PipeSignature,
    Field(discriminator="type"),
]

PIPE_CLASSES: dict[str, type[BaseModel]] = {
    "PipeLLM": PipeLLM,
    "PipeCompose": PipeCompose,
    "PipeStructure": PipeStructure,
    "PipeJudge": PipeJudge,
    "PipeExtract": PipeExtract,
    "PipeImgGen": PipeImgGen,
    "PipeSearch": PipeSearch,
    "PipeDocGen": PipeDocGen,
    "PipeFunc": PipeFunc,
    "PipeSequence": PipeSequence,
    "PipeParallel": PipeParallel,
    "PipeCondition": PipeCondition,
    "PipeBatch": PipeBatch,
}

SIGNATURE_KEYS = frozenset({"description", "inputs", "output", "signature_for"})
