"""The real `mthds` client (`MthdsAPIClient`, PyPI 0.25.0), unchanged, against the running service.

Covers the five protocol routes as the client calls them (http-api.md §15): the version handshake,
validate with both verdicts, execute and start with the method as a `files` map (text and Base64
entries), the client's typed errors for a refused method and a failing run, and the model deck it reads.
"""

from __future__ import annotations

import base64
import hashlib
import tomllib
from pathlib import Path

import pytest
from mthds.method_tree.file_entry import Base64FileEntry, HashFileEntry
from mthds.protocol.models import InvalidValidationReport, ModelCategory, ValidationReport
from mthds.runners.api.client import MthdsAPIClient
from mthds.runners.api.exceptions import ApiResponseError

from shared.language.model_deck import BUILTIN_DECK_TOML
from tests.helpers.run_functions import FAILING
from tests.helpers.run_stack import run_stack
from tests.integration.test_runs import GREET

# A bundle whose pipe names a concept no library declares: it parses, and does not validate.
UNRESOLVED = """domain = "greet"
main_pipe = "hello"

[pipe.hello]
type = "PipeCompose"
description = "Greets"
inputs = { name = "Text" }
output = "Salutation"
template = "Hello, {{ name }}!"
"""

BROKEN = f"""domain = "funcs"

[pipe.broken]
type = "PipeFunc"
description = "Always fails"
inputs = {{ name = "Text" }}
output = "Text"
function_name = "{FAILING}"
"""

API_KEY = "mthds-client-key"


def _client(base_url: str) -> MthdsAPIClient:
    return MthdsAPIClient(api_key=API_KEY, base_url=base_url, request_timeout_seconds=60)


async def test_version_offers_the_blob_store(temporal_address: str, tmp_path: Path) -> None:
    async with (
        run_stack(temporal_address, tmp_path, worker=False) as stack,
        _client(stack.base_url) as client,
    ):
        info = await client.version()
        assert info.protocol_version == "2.0.0"
        assert info.blob_store is True
        extra = info.model_extra or {}
        assert extra["implementation"] == "methodflow"
        assert extra["limits"]["method_tree"]["max_files"] > 0
        # A blob store: a tree over the inline size is uploaded by hash, then sent as hash entries.
        files = await client.prepare_files_from_contents({"greet.mthds": GREET.encode()}, inline_max_bytes=1)
        entry = files["greet.mthds"]
        assert isinstance(entry, HashFileEntry)
        assert (entry.sha256, entry.size) == (hashlib.sha256(GREET.encode()).hexdigest(), len(GREET))
        hashed = {"greet.mthds": {"sha256": entry.sha256, "size": entry.size}}
        verdict = await stack.client.post("/v1/validate", json={"files": hashed})
        assert verdict.json()["is_valid"] is True
        # Under the inline size, the tree stays inline.
        inline = await client.prepare_files_from_contents({"greet.mthds": GREET.encode()})
        assert inline == {"greet.mthds": GREET}


async def test_validate_answers_both_verdicts(temporal_address: str, tmp_path: Path) -> None:
    async with (
        run_stack(temporal_address, tmp_path, worker=False) as stack,
        _client(stack.base_url) as client,
    ):
        valid = await client.validate({"methods/greet.mthds": GREET}, extra={"render": ["markdown"]})
        assert isinstance(valid, ValidationReport)
        assert valid.warnings == []
        assert (valid.model_extra or {})["is_runnable"] is True
        contracts = (valid.model_extra or {})["pipe_io_contracts"]
        assert contracts["greet.wrap"]["inputs"]["name"]["concept_ref"] == "native.Text"
        invalid = await client.validate({"methods/greet.mthds": UNRESOLVED})
        assert isinstance(invalid, InvalidValidationReport)
        assert invalid.errors
        assert {item.code for item in invalid.errors} == {"method.concept_unresolved"}
        location = invalid.errors[0].location
        assert location is not None
        assert location.file == "methods/greet.mthds"
        assert isinstance(invalid.message, str)


async def test_execute_returns_the_main_output(temporal_address: str, tmp_path: Path) -> None:
    async with run_stack(temporal_address, tmp_path) as stack, _client(stack.base_url) as client:
        result = await client.execute(
            files={"greet.mthds": GREET},
            inputs={"name": "Ada"},
            extra={"pipeline_run_id": "mthds-execute-1", "an_unknown_key": True},
        )
        assert result.pipeline_run_id == "mthds-execute-1"
        memory = result.pipe_output.working_memory
        main_name = (result.model_extra or {})["main_stuff_name"]
        assert memory.aliases["main_stuff"] == main_name == "wrapped"
        assert memory.root[main_name].concept == "native.Text"
        assert memory.root[main_name].content == {"text": ">> Hello, Ada! <<"}
        assert memory.root["name"].content == {"text": "Ada"}


async def test_start_with_a_base64_files_map_runs(temporal_address: str, tmp_path: Path) -> None:
    entry = Base64FileEntry(base64=base64.b64encode(GREET.encode()).decode("ascii"))
    async with run_stack(temporal_address, tmp_path) as stack, _client(stack.base_url) as client:
        started = await client.start(
            files={"greet.mthds": entry, "README.md": "not a bundle"},
            inputs={"name": "Bob"},
        )
        run_id = started.pipeline_run_id
        assert run_id
        assert (started.model_extra or {})["state"] == "STARTED"
        final = await stack.wait_for_end(run_id)
        assert final["state"] == "COMPLETED"
        results = (await stack.client.get(f"/v1/runs/{run_id}/results")).json()
        assert results["main_stuff"] == {"text": ">> Hello, Bob! <<"}


async def test_a_refused_method_is_the_clients_typed_error(temporal_address: str, tmp_path: Path) -> None:
    async with run_stack(temporal_address, tmp_path) as stack, _client(stack.base_url) as client:
        with pytest.raises(ApiResponseError) as refused:
            await client.execute(files={"greet.mthds": UNRESOLVED}, inputs={"name": "Ada"})
        assert refused.value.status == 422
        problem = refused.value.problem
        assert problem.code == "method.invalid"
        assert problem.errors
        assert problem.errors[0].code == "method.concept_unresolved"
        with pytest.raises(ApiResponseError) as missing_input:
            await client.start(files={"greet.mthds": GREET})
        assert missing_input.value.problem.code == "input.missing"


async def test_a_failing_run_is_the_clients_typed_error(temporal_address: str, tmp_path: Path) -> None:
    async with run_stack(temporal_address, tmp_path) as stack, _client(stack.base_url) as client:
        with pytest.raises(ApiResponseError) as failed:
            await client.execute(
                pipe_code="broken",
                files={"funcs.mthds": BROKEN},
                inputs={"name": "x"},
                extra={"pipeline_run_id": "mthds-broken-1"},
            )
        problem = failed.value.problem
        assert failed.value.status == 422
        assert problem.code == "pipe.function_failed"
        assert problem.pipeline_run_id == "mthds-broken-1"
        assert problem.location is not None
        assert problem.location.pipe == "broken"


async def test_models_reads_the_deck(temporal_address: str, tmp_path: Path) -> None:
    # The built-in deck (§8.2, §15 item 7), whatever MODEL_DECK the shell may carry.
    deck = tomllib.loads(BUILTIN_DECK_TOML)
    async with (
        run_stack(temporal_address, tmp_path, worker=False, api_overrides={"model_deck": None}) as stack,
        _client(stack.base_url) as client,
    ):
        everything = await client.models()
        llm = await client.models(ModelCategory.LLM)
    assert [(model.name, model.type) for model in everything.models] == [
        (name, entry["type"]) for name, entry in deck["models"].items()
    ]
    by_name = {model.name: model.type for model in everything.models}
    assert by_name["gpt-4o-mini"] is ModelCategory.LLM
    assert by_name["gpt-image-1"] is ModelCategory.IMG_GEN
    # A category outside the protocol's five stays a raw string on the client's side, never a failure.
    assert by_name["local-pdf"] == "doc_gen"
    assert not isinstance(by_name["local-pdf"], ModelCategory)
    extensions = everything.model_extra or {}
    assert extensions["aliases"] == deck["aliases"]
    assert extensions["waterfalls"] == {}
    assert [model.name for model in llm.models] == [
        name for name, entry in deck["models"].items() if entry["type"] == "llm"
    ]
    assert {model.type for model in llm.models} == {ModelCategory.LLM}
    assert (llm.model_extra or {})["aliases"] == {"llm": deck["aliases"]["llm"]}
