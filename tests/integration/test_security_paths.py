"""Path traversal over real HTTP against real Temporal: blob keys of `PUT /v1/blobs/{sha256}` (raw request
targets, encoded dots, absolute paths, forged scopes), `pipelex-storage://` URIs in inputs (climbing,
encoded, absolute, a symlink out of the store) and the paths of a method tree's `files`.

Each is a typed 4xx problem, and the file system shows nothing was written outside the store.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from api.blob_upload import upload_signer
from api.settings import ApiSettings
from tests.helpers.api_server import assert_problem
from tests.helpers.run_stack import RunStack, run_stack

SIGNING_KEY = "paths-signing-key-" + "p" * 30
DATA = b"domain = 'x'\n"
SHA = hashlib.sha256(DATA).hexdigest()
SECRET = b"\x89PNG\r\n\x1a\n outside the store"
GREET = """domain = "greetings"
main_pipe = "greet"

[pipe.greet]
type = "PipeCompose"
description = "Greets someone"
inputs = { name = "Text" }
output = "Text"
template = "Hello, $name!"
"""
PHOTO = """domain = "photos"
main_pipe = "caption"

[pipe.caption]
type = "PipeCompose"
description = "Captions a photo without looking at it"
inputs = { photo = "Image" }
output = "Text"
template = "A photo arrived: {{ photo.url }}"
"""


@dataclass
class Served:
    stack: RunStack
    root: Path  # everything the test's API may touch lives under here
    store: Path
    outside: Path  # a sibling of the store holding a secret the API must never read or change


def files_under(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()
    }


@pytest.fixture
async def served(temporal_address: str, tmp_path: Path) -> AsyncGenerator[Served]:
    store = tmp_path / "storage"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(SECRET)
    (store / "single-tenant").mkdir(parents=True)
    # A symlink inside the caller's own prefix, pointing out of the store.
    (store / "single-tenant" / "escape").symlink_to(outside, target_is_directory=True)
    overrides = {"blob_upload_signing_key": SecretStr(SIGNING_KEY), "storage": str(store)}
    # No worker: nothing here may run; whatever started would never finish.
    async with run_stack(temporal_address, tmp_path, worker=False, api_overrides=overrides) as stack:
        yield Served(stack, tmp_path, store, outside)


def signed_query(scope: str, sha256: str = SHA) -> str:
    signer = upload_signer(ApiSettings(blob_upload_signing_key=SecretStr(SIGNING_KEY)))
    return signer.signed_query(scope=scope, sha256=sha256, now=int(time.time()))


async def test_blob_uploads_never_write_outside_their_scope(served: Served) -> None:
    before = files_under(served.root)
    client = served.stack.client
    good_query = signed_query("single-tenant")
    # Raw request targets: the client sends them as written, without normalizing the dots.
    raw_targets = [
        f"/v1/blobs/..?{good_query}",
        f"/v1/blobs/../../outside/secret.png?{good_query}",
        f"/v1/blobs/%2e%2e%2f%2e%2e%2foutside%2fsecret.png?{good_query}",
        f"/v1/blobs/..%2f..%2foutside?{good_query}",
        f"/v1/blobs/%2e%2e?{good_query}",
        f"/v1/blobs/..%5c..%5coutside?{good_query}",
        f"/v1/blobs//etc/passwd?{good_query}",
        f"/v1/blobs/%2Fetc%2Fpasswd?{good_query}",
        f"/v1/blobs/{SHA}%00?{good_query}",
        f"/v1/blobs/{SHA}/../../../outside?{good_query}",
    ]
    for target in raw_targets:
        response = await client.put("/", content=DATA, extensions={"target": target.encode()})
        assert 400 <= response.status_code < 500, (target, response.text)
        assert response.headers["content-type"] == "application/problem+json", target
    # Scopes that are not one key segment: refused even when signed with the service's own key.
    for scope in ("..", "../outside", "/srv", "single-tenant/../../outside", "a\\..\\b", "single-tenant\x00"):
        response = await client.put(f"/v1/blobs/{SHA}?{signed_query(scope)}", content=DATA)
        assert assert_problem(response, 403, "auth.forbidden")["params"] == {
            "requirement": "signed_upload_target"
        }
    assert files_under(served.root) == before, "a refused upload wrote nothing, anywhere"
    # The control: a real target writes exactly one file, inside the store, under its scope.
    stored = await client.put(f"/v1/blobs/{SHA}?{good_query}", content=DATA)
    assert stored.status_code == 204, stored.text
    after = files_under(served.root)
    assert {name: data for name, data in after.items() if name not in before} == {
        f"storage/method-blobs/single-tenant/{SHA}": DATA
    }


async def test_storage_uris_outside_the_callers_prefix_are_not_found(served: Served) -> None:
    before = files_under(served.root)
    uris = [
        "pipelex-storage://single-tenant/escape/secret.png",  # a symlink out of the store
        "pipelex-storage:///etc/passwd",
        f"pipelex-storage://{served.outside}/secret.png",
        "pipelex-storage://single-tenant/runs/../../../outside/secret.png",
        "pipelex-storage://single-tenant/%2e%2e/%2e%2e/outside/secret.png",
        "pipelex-storage://single-tenant/..%2f..%2foutside/secret.png",
        "pipelex-storage://single-tenant\\..\\..\\outside\\secret.png",
        "pipelex-storage://single-tenant//outside/secret.png",
        "pipelex-storage://single-tenant/./escape/secret.png",
        "pipelex-storage://single-tenant/escape/secret.png\x00.png",
        "pipelex-storage://../outside/secret.png",
        "pipelex-storage://",
    ]
    shapes: list[Any] = []
    for uri in uris:
        shapes += [
            {"url": uri},
            uri,
            [{"url": "data:image/png;base64,iVBORw0KGgo="}, uri],
            {"x": [{"y": uri}]},
        ]
    for shape in shapes:
        run_id = f"paths-{uuid.uuid4()}"
        body = {"mthds_contents": [PHOTO], "inputs": {"photo": shape}, "pipeline_run_id": run_id}
        if isinstance(shape, list):
            body["mthds_contents"] = [PHOTO.replace('"Image"', '"Image[]"')]
        response = await served.stack.client.post("/v1/start", json=body)
        document = assert_problem(response, 422, "input.reference_not_found")
        assert document["params"] == {"input": "photo"}, shape
        assert_problem(await served.stack.client.get(f"/v1/runs/{run_id}"), 404, "run.not_found")
    assert files_under(served.root) == before


LEAVING_PATHS = [
    "../evil.mthds",
    "methods/../../evil.mthds",
    "/etc/evil.mthds",
    "..\\..\\evil.mthds",
    "C:\\methods\\evil.mthds",
    "c:evil.mthds",
    "evil\x00.mthds",
    "evil\n.mthds",
    "..",
    "",
]


async def test_method_tree_paths_that_leave_the_tree_are_refused(served: Served) -> None:
    for path in LEAVING_PATHS:
        await _assert_refused_everywhere(served.stack, path)


async def _assert_refused_everywhere(stack: RunStack, path: str) -> None:
    client = stack.client
    bodies: list[tuple[str, str, dict[str, Any]]] = [
        ("/v1/validate", "files", {"files": {"ok.mthds": GREET, path: GREET}}),
        ("/v1/validate", "files", {"files": [{"content": GREET, "source": path}]}),
        ("/v1/validate", "mthds_sources", {"mthds_contents": [GREET], "mthds_sources": [path]}),
        ("/v1/pipe-io", "files", {"files": {path: GREET}}),
        ("/v1/start", "files", {"files": {path: GREET}, "inputs": {"name": "Ada"}}),
        ("/v1/execute", "files", {"files": {path: GREET}, "inputs": {"name": "Ada"}}),
    ]
    for route, field, body in bodies:
        document = assert_problem(await client.post(route, json=body), 422, "request.invalid")
        assert document["location"] == {"field": field}, (route, body)
        assert "\x00" not in document["detail"]
        assert "\n" not in document["detail"]


async def test_relative_tree_paths_stay_accepted(served: Served) -> None:
    for path in ("greet.mthds", "methods/greet.mthds", "./greet.mthds", "a..b/greet..mthds", "~/greet.mthds"):
        verdict = await served.stack.client.post("/v1/validate", json={"files": {path: GREET}})
        assert verdict.json()["is_valid"] is True, (path, verdict.text[:300])
        assert verdict.json()["bundle_blueprint"]["source"] == path
