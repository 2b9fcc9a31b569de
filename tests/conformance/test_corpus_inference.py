"""The 8 `inference` corpus entries run live, end to end (mthds.md §7.4), against a deterministic stand-in.

One stack for the module: the API over real HTTP, a worker on Temporal and the loopback OpenAI-compatible
test server, with a deck mapping every default alias the entries reach to that server (the extract
document default to the local pypdf model), all priced. Each entry is executed through `POST /v1/execute`
with its bundle and built inputs (a real PDF for its Document); its main stuff must have the declared
concept and multiplicity and validate against the entry's library, its usage records must be priced and
match the model calls the server received, of the kinds the entry's operators make.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import Any, Final, cast

import pytest
import pytest_asyncio

from shared.language.library import Library
from shared.language.model_deck import ModelDeck
from shared.language.report import ValidationReport
from shared.runtime.call_site import RunOptions
from shared.runtime.content_values import ContentValidator
from shared.runtime.dry_run_executor import DryRunExecutor
from shared.runtime.dry_run_sweep import output_shape_fault
from shared.runtime.interpreter import Interpreter
from shared.runtime.stuff import Stuff
from tests.conformance.corpus import CorpusEntry, Tier
from tests.conformance.inference_inputs import PDF_PAGES, caller_inputs
from tests.conformance.test_corpus_validation import validate_entry
from tests.helpers.model_servers.model_server import ModelServer, Received
from tests.helpers.model_servers.openai_server import SEARCH_SOURCES
from tests.helpers.model_servers.serving import serving
from tests.helpers.run_stack import RunStack, run_stack

pytestmark = pytest.mark.conformance

KEY: Final = "sk-test-corpus-inference"
ANSWER: Final = "A climbing bean in full leaf on a sunny trellis."
CHAT: Final = "/v1/chat/completions"
IMAGES: Final = "/v1/images/generations"
DECK: Final = """
[models.test-llm]
type = "llm"
provider = "openai"
model = "test-model"
costs = { input = 2.5, output = 10.0 }

[models.test-image]
type = "img_gen"
provider = "openai"
model = "test-image-model"
image_cost = 0.04
costs = { input = 5.0, output = 40.0 }

[models.test-search]
type = "search"
provider = "openai"
model = "test-search-model"
costs = { input = 3.0, output = 15.0 }

[models.test-pdf]
type = "extract"
provider = "local"
model = "pypdf"

[models.test-vision-ocr]
type = "extract"
provider = "openai"
model = "test-model"
costs = { input = 2.5, output = 10.0 }

[aliases.llm]
default-general = "test-llm"
default-structured = "test-llm"

[aliases.judgment]
default-judgment = "test-llm"

[aliases.img_gen]
default-general = "test-image"

[aliases.search]
default-search = "test-search"

[aliases.extract]
default-extract-document = "test-pdf"
default-extract-image = "test-vision-ocr"
"""

# The kinds of request each entry's operators send to the server; none for the local PDF extraction.
EXPECTED_CALLS: Final[dict[str, frozenset[str]]] = {
    "image_from_planting_brief": frozenset({"chat", "images"}),
    "image_round_trip_room_photo": frozenset({"images", "vision"}),
    "operator_extract_invoice_pages": frozenset(),
    "operator_img_gen_garden_sign": frozenset({"images"}),
    "operator_judge_message_triage": frozenset({"chat"}),
    "operator_judge_roof_condition": frozenset({"chat"}),
    "operator_judge_urgent_message": frozenset({"chat"}),
    "operator_search_supplier_lead": frozenset({"search"}),
}
ENTRY_NAMES: Final = sorted(EXPECTED_CALLS)


def _page_texts(content: Any) -> list[str]:
    return [str(page["text_and_images"]["text"]["text"]) for page in content["items"]]


def _stored_png(content: Any) -> bool:
    return str(content["url"]).startswith("pipelex-storage://") and content["mime_type"] == "image/png"


# What each entry's main content must say beyond its shape: the stand-in's answers carried through.
CONTENT_CHECKS: Final[dict[str, Callable[[Any], bool]]] = {
    "image_from_planting_brief": _stored_png,
    "image_round_trip_room_photo": lambda content: content == {"text": ANSWER},
    "operator_extract_invoice_pages": lambda content: (
        len(texts := _page_texts(content)) == len(PDF_PAGES)
        and all(line in text for text, lines in zip(texts, PDF_PAGES, strict=True) for line in lines)
    ),
    "operator_img_gen_garden_sign": _stored_png,
    "operator_search_supplier_lead": lambda content: (
        [source["url"] for source in content["sources"]] == [url for url, _ in SEARCH_SOURCES]
    ),
}


@dataclass
class Backend:
    stack: RunStack
    server: ModelServer
    deck: ModelDeck
    passed: set[str] = field(default_factory=set[str])
    failed: dict[str, str] = field(default_factory=dict[str, str])


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def backend(
    corpus_entries: list[CorpusEntry],  # noqa: ARG001 -- skips the module before any start-up when offline
    temporal_address: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncGenerator[Backend]:
    folder = tmp_path_factory.mktemp("corpus-inference")
    deck_file = folder / "deck.toml"
    deck_file.write_text(DECK, encoding="utf-8")
    server = ModelServer("openai", api_key=KEY, answer=ANSWER)
    worker: dict[str, Any] = {
        "model_deck": deck_file,
        "openai_base_url": server.base_url,
        "openai_api_key": KEY,
        "pipe_activity_max_attempts": 1,  # a failure shows at once, not after backoffs
    }
    async with (
        serving(server),
        run_stack(
            temporal_address,
            folder / "data",
            api_overrides={"model_deck": deck_file},
            worker_overrides=worker,
        ) as stack,
    ):
        yield Backend(stack, server, ModelDeck.from_toml(DECK))


def test_inference_tier_is_the_eight_entries(corpus_entries: list[CorpusEntry]) -> None:
    names = sorted(entry.name for entry in corpus_entries if entry.manifest.tier is Tier.INFERENCE)
    assert names == ENTRY_NAMES


@pytest.mark.asyncio(loop_scope="module")  # the module's stack lives on the module's loop
@pytest.mark.parametrize("name", ENTRY_NAMES)
async def test_inference_entry_runs_end_to_end(
    name: str, corpus_entries: list[CorpusEntry], backend: Backend, conformance_summary: list[str]
) -> None:
    entry = next(entry for entry in corpus_entries if entry.name == name)
    try:
        await _run_entry(entry, backend)
    except BaseException as exc:
        backend.failed[name] = " ".join(str(exc).split())[:300]
        raise
    else:
        backend.passed.add(name)
    finally:
        _publish(conformance_summary, backend)


async def _run_entry(entry: CorpusEntry, backend: Backend) -> None:
    library, main_ref = _library_of(entry, backend.deck)
    pipe = library.pipes[main_ref]
    run_id = f"inference-{entry.name.replace('_', '-')}-{uuid.uuid4().hex[:8]}"
    body: dict[str, Any] = {
        "inputs": caller_inputs(library, pipe, entry.name),
        "pipeline_run_id": run_id,
    }
    if len(entry.bundles) == 1:
        body["mthds_contents"] = [entry.bundles[0].text]
    else:
        body["files"] = {bundle.path: bundle.text for bundle in entry.bundles}
    before = len(backend.server.received)
    response = await backend.stack.client.post("/v1/execute", json=body)
    assert response.status_code == 200, f"{entry.name}: {response.status_code} {response.text[:2000]}"
    result: dict[str, Any] = response.json()
    assert result["state"] == "COMPLETED", result
    received = backend.server.received[before:]

    output = result["pipe_output"]
    main_wire = output["working_memory"]["root"][result["main_stuff_name"]]
    main = _stuff_of(main_wire)
    interpreter = Interpreter(library, DryRunExecutor(library), RunOptions())
    fault = output_shape_fault(interpreter, pipe, main)
    assert fault is None, f"main output of the wrong shape: {fault.message}"
    validator = ContentValidator(library)
    if main.is_list:
        validator.validate_list(main.concept, main.items())
    else:
        validator.validate(main.concept, main.content)
    check = CONTENT_CHECKS.get(entry.name)
    assert check is None or check(main.content), f"unexpected main content: {main.content}"

    kinds = {_kind(request) for request in received}
    assert kinds == EXPECTED_CALLS[entry.name], [(request.path, request.body) for request in received]
    assert all(request.status == 200 for request in received)
    await _check_usage(backend.stack, run_id, output["tokens_usages"], len(received))


async def _check_usage(stack: RunStack, run_id: str, usages: list[dict[str, Any]], calls: int) -> None:
    """One priced usage record per model call; the run's summary adds them up."""
    assert len(usages) == calls, usages  # so none for the local extraction, one or more elsewhere
    assert all(isinstance(usage["cost"], float) and usage["cost"] > 0 for usage in usages), usages
    run = await stack.client.get(f"/v1/runs/{run_id}")
    assert run.status_code == 200, run.text
    summary = run.json()["usage"]
    assert summary["model_calls"] == calls, summary
    if calls:
        assert math.isclose(summary["cost_usd"], sum(usage["cost"] for usage in usages), rel_tol=1e-9)


def _library_of(entry: CorpusEntry, deck: ModelDeck) -> tuple[Library, str]:
    """The entry's library and main pipe, validated with the same validator and the stack's deck."""
    report = validate_entry(entry, deck)
    assert isinstance(report, ValidationReport), report
    assert report.is_valid, report.issues
    assert report.library is not None
    assert report.default_pipe_ref is not None
    return report.library, report.default_pipe_ref


def _stuff_of(wire: dict[str, Any]) -> Stuff:
    """A stuff read back from the wire, a list when its content is exactly `{"items": [...]}`."""
    content = wire["content"]
    is_list = (
        isinstance(content, dict)
        and set(cast("dict[str, Any]", content)) == {"items"}
        and isinstance(cast("dict[str, Any]", content)["items"], list)
    )
    return Stuff(wire["stuff_name"], wire["stuff_code"], wire["concept"], content, is_list)


def _kind(request: Received) -> str:
    """What a request asked the server: an image, a search, a chat with images, or a plain chat."""
    if request.path != CHAT:
        return "images" if request.path == IMAGES else request.path
    if "web_search_options" in request.body:
        return "search"
    messages = cast("list[dict[str, Any]]", request.body.get("messages") or [])
    parts = [
        part
        for message in messages
        if isinstance(content := message.get("content"), list)
        for part in cast("list[dict[str, Any]]", content)
    ]
    return "vision" if any(part.get("type") == "image_url" for part in parts) else "chat"


def _publish(summary: list[str], backend: Backend) -> None:
    """(Re)write this module's lines in the conformance summary after each entry."""
    summary[:] = [line for line in summary if not line.startswith(("inference: ", "  inference "))]
    summary.append(f"inference: {len(backend.passed)}/{len(ENTRY_NAMES)} entries ran end to end")
    summary.extend(f"  inference {name}: {problem}" for name, problem in sorted(backend.failed.items()))
