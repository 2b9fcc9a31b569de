"""File input URLs at request time (http-api.md §4.3, §4.5 step 7, §10.5), over real HTTP against real
Temporal: refused schemes and private hosts, `pipelex-storage://` keys outside the caller's prefix.

Refused URLs are never contacted; accepted loopback URLs are never fetched (the pipe does not read them).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest

from shared.storage.blob_store import LocalBlobStore, local_storage_root
from tests.helpers.api_server import assert_problem
from tests.helpers.run_stack import RunStack, run_stack

PHOTO = """domain = "photos"
main_pipe = "caption"

[pipe.caption]
type = "PipeCompose"
description = "Captions a photo without looking at it"
inputs = { photo = "Image" }
output = "Text"
template = "A photo arrived: {{ photo.url }}"
"""
OTHER_TENANT = "t_" + "0" * 32


def photo_body(url: str, **extra: object) -> dict[str, Any]:
    return {"mthds_contents": [PHOTO], "inputs": {"photo": {"url": url}}, **extra}


@pytest.fixture
async def stack(temporal_address: str, tmp_path: Path) -> AsyncGenerator[RunStack]:
    async with run_stack(temporal_address, tmp_path) as running:
        yield running


def refused(document: dict[str, Any], reason: str, target_class: str) -> None:
    assert document["params"] == {"input": "photo", "reason": reason, "target_class": target_class}
    assert document["location"] == {"field": "inputs"}


async def test_a_scheme_other_than_http_data_or_storage_is_refused(stack: RunStack) -> None:
    for url in ("ftp://x/y.pdf", "file:///etc/passwd", "javascript:alert(1)", "/relative/a.png"):
        answer = await stack.client.post("/v1/start", json=photo_body(url))
        refused(assert_problem(answer, 422, "security.input_url_refused"), "scheme_not_allowed", "scheme")


async def test_a_loopback_url_is_refused_and_nothing_starts(stack: RunStack) -> None:
    run_id = f"input-url-{uuid.uuid4()}"
    body = photo_body("http://127.0.0.1:9/a.png", pipeline_run_id=run_id)
    answer = await stack.client.post("/v1/start", json=body)
    refused(assert_problem(answer, 422, "security.input_url_refused"), "host_not_allowed", "loopback")
    assert_problem(await stack.client.get(f"/v1/runs/{run_id}"), 404, "run.not_found")
    # A list of files answers for its first refused item, under the input's name.
    listed = {
        "mthds_contents": [PHOTO.replace('"Image"', '"Image[]"')],
        "inputs": {"photo": [{"url": "https://93.184.216.34/a.png"}, {"url": "http://10.0.0.1/b.png"}]},
    }
    answer = await stack.client.post("/v1/start", json=listed)
    refused(assert_problem(answer, 422, "security.input_url_refused"), "host_not_allowed", "private")


async def test_storage_keys_must_be_the_callers_and_exist(stack: RunStack, tmp_path: Path) -> None:
    store = LocalBlobStore(local_storage_root(None, tmp_path))
    theirs = store.put(f"{OTHER_TENANT}/runs/r1/inputs/assets/a.png", b"\x89PNG\r\n\x1a\n", "image/png")
    mine = store.put("single-tenant/runs/r0/inputs/assets/a.png", b"\x89PNG\r\n\x1a\n", "image/png")
    for url in (
        theirs,
        "pipelex-storage://single-tenant/runs/r0/inputs/assets/missing.png",
        f"pipelex-storage://single-tenant/../{OTHER_TENANT}/runs/r1/inputs/assets/a.png",
        "pipelex-storage://single-tenant",
    ):
        answer = await stack.client.post("/v1/start", json=photo_body(url))
        document = assert_problem(answer, 422, "input.reference_not_found")
        assert document["params"] == {"input": "photo"}, url
    # A bare string is the Image's url: another tenant's file stays out of reach that way too.
    bare = {"mthds_contents": [PHOTO], "inputs": {"photo": theirs}}
    assert_problem(await stack.client.post("/v1/start", json=bare), 422, "input.reference_not_found")
    run_id = f"input-url-{uuid.uuid4()}"
    started = await stack.client.post("/v1/start", json=photo_body(mine, pipeline_run_id=run_id))
    assert started.status_code == 202, started.text
    final = await stack.wait_for_end(run_id)
    assert final["state"] == "COMPLETED", final
    results = (await stack.client.get(f"/v1/runs/{run_id}/results")).json()
    assert results["main_stuff"] == {"text": f"A photo arrived: {mine}"}


async def test_allow_private_input_urls_accepts_loopback_and_keeps_the_scheme_rule(
    temporal_address: str, tmp_path: Path
) -> None:
    overrides = {"allow_private_input_urls": True}
    async with run_stack(temporal_address, tmp_path, api_overrides=overrides) as stack:
        run_id = f"input-url-{uuid.uuid4()}"
        body = photo_body("http://127.0.0.1:9/a.png", pipeline_run_id=run_id)
        started = await stack.client.post("/v1/start", json=body)
        assert started.status_code == 202, started.text
        assert (await stack.wait_for_end(run_id))["state"] == "COMPLETED"
        answer = await stack.client.post("/v1/start", json=photo_body("ftp://x/y.pdf"))
        refused(assert_problem(answer, 422, "security.input_url_refused"), "scheme_not_allowed", "scheme")
