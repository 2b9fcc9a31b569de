"""Method files by hash through the real app: `POST /v1/blobs/missing`, the signed `PUT /v1/blobs/{sha256}`,
then `{"sha256", "size"}` entries of `files` on `/v1/validate` and on runs (a real uvicorn server and a worker
on the Temporal dev server). Blobs stay in their tenant's scope; every bad input is a typed problem.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from mthds.protocol.models import BlobRef
from mthds.runners.api.client import MthdsAPIClient
from pydantic import SecretStr

from api.auth import AuthMode, Caller
from api.blob_upload import UploadSigner
from api.settings import ApiSettings
from shared.storage.blob_store import LocalBlobStore
from shared.storage.method_blobs import METHOD_BLOBS_FOLDER
from tests.helpers.api_server import asgi_client, assert_problem
from tests.helpers.run_stack import run_stack
from tests.integration.test_runs import GREET

SIGNING_KEY = "blob-routes-signing-key"
TENANT_KEYS = {"acme": "acme-blob-key", "globex": "globex-blob-key"}
TWO_TENANTS: dict[str, Any] = {
    "auth_mode": "api_key",
    "api_key": ",".join(f"{tenant}:{key}" for tenant, key in TENANT_KEYS.items()),
}
BUNDLE = GREET.encode()
BUNDLE_SHA = hashlib.sha256(BUNDLE).hexdigest()
OTHER = b'domain = "other"\n'
OTHER_SHA = hashlib.sha256(OTHER).hexdigest()
# Small limits, so limit cases need no large bodies: 3 files, 4 KiB each, 6 KiB in all.
LIMITS: dict[str, Any] = {"max_bundle_files": 3, "max_mthds_file_kib": 4, "max_bundle_total_kib": 6}


def _settings(tmp_path: Path, **overrides: Any) -> ApiSettings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "blob_upload_signing_key": SecretStr(SIGNING_KEY),
        **LIMITS,
        **overrides,
    }
    return ApiSettings(**values)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncGenerator[httpx.AsyncClient]:
    async with asgi_client(_settings(tmp_path)) as client:
        yield client


def _bearer(tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TENANT_KEYS[tenant]}"}


async def _missing(
    client: httpx.AsyncClient, blobs: list[tuple[str, int]], headers: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    body = {"blobs": [{"sha256": sha256, "size": size} for sha256, size in blobs]}
    response = await client.post("/v1/blobs/missing", json=body, headers=headers)
    assert response.status_code == 200, response.text
    missing: list[dict[str, Any]] = response.json()["missing"]
    return missing


async def _upload(client: httpx.AsyncClient, data: bytes, headers: dict[str, str] | None = None) -> None:
    """Ask for the blob's target and upload to it exactly as named (no credential)."""
    (blob,) = await _missing(client, [(hashlib.sha256(data).hexdigest(), len(data))], headers)
    target = blob["upload"]
    response = await client.request(target["method"], target["url"], content=data, headers=target["headers"])
    assert response.status_code == 204, response.text
    assert response.content == b""


def _signed_path(sha256: str, *, scope: str = "single-tenant", expires: int | None = None) -> str:
    signer = UploadSigner(key=SIGNING_KEY.encode(), ttl_seconds=3600)
    expires = expires if expires is not None else int(time.time()) + 3600
    signature = signer.signature(scope=scope, sha256=sha256, expires=expires)
    return f"/v1/blobs/{sha256}?scope={scope}&expires={expires}&signature={signature}"


def _hash_files(**extra: Any) -> dict[str, Any]:
    return {"files": {"greet.mthds": {"sha256": BUNDLE_SHA, "size": len(BUNDLE)}}, **extra}


# --- POST /v1/blobs/missing --------------------------------------------------------------------------


async def test_missing_blobs_get_signed_upload_targets(client: httpx.AsyncClient) -> None:
    missing = await _missing(client, [(OTHER_SHA, len(OTHER)), (BUNDLE_SHA, len(BUNDLE))])
    assert [blob["sha256"] for blob in missing] == sorted([OTHER_SHA, BUNDLE_SHA])
    blob = next(item for item in missing if item["sha256"] == BUNDLE_SHA)
    assert list(blob) == ["sha256", "size", "upload"]
    assert blob["size"] == len(BUNDLE)
    upload = blob["upload"]
    assert upload["method"] == "PUT"
    assert upload["headers"] == {"content-type": "application/octet-stream"}
    url = urlsplit(str(upload["url"]))
    assert (url.scheme, url.netloc, url.path) == ("http", "methodflow.test", f"/v1/blobs/{BUNDLE_SHA}")
    query = parse_qs(url.query)
    assert query["scope"] == ["single-tenant"]
    assert int(query["expires"][0]) > time.time()
    assert len(query["signature"][0]) == 64


async def test_held_blobs_are_left_out(client: httpx.AsyncClient) -> None:
    await _upload(client, BUNDLE)
    assert await _missing(client, [(BUNDLE_SHA, len(BUNDLE))]) == []
    assert [
        blob["sha256"] for blob in await _missing(client, [(BUNDLE_SHA, len(BUNDLE)), (OTHER_SHA, 17)])
    ] == [OTHER_SHA]
    assert await _missing(client, []) == []


async def test_a_hash_listed_twice_at_one_size_is_one_blob(client: httpx.AsyncClient) -> None:
    missing = await _missing(client, [(OTHER_SHA, len(OTHER)), (OTHER_SHA, len(OTHER))])
    assert [blob["sha256"] for blob in missing] == [OTHER_SHA]


async def test_targets_start_with_the_public_base_url(tmp_path: Path) -> None:
    async with asgi_client(_settings(tmp_path, public_base_url="https://runner.example.com/api")) as client:
        (blob,) = await _missing(client, [(OTHER_SHA, len(OTHER))])
    assert blob["upload"]["url"].startswith(f"https://runner.example.com/api/v1/blobs/{OTHER_SHA}?scope=")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"blobs": [{"sha256": BUNDLE_SHA.upper(), "size": 1}]}, "blobs.0.sha256"),
        ({"blobs": [{"sha256": "ab" * 31, "size": 1}]}, "blobs.0.sha256"),
        ({"blobs": [{"sha256": 7, "size": 1}]}, "blobs.0.sha256"),
        ({"blobs": [{"sha256": OTHER_SHA, "size": 1}, {"sha256": "x", "size": 1}]}, "blobs.1.sha256"),
        ({"blobs": [{"sha256": BUNDLE_SHA, "size": 976.0}]}, "blobs.0.size"),
        ({"blobs": [{"sha256": BUNDLE_SHA, "size": -1}]}, "blobs.0.size"),
        ({"blobs": [{"sha256": BUNDLE_SHA, "size": "976"}]}, "blobs.0.size"),
        ({"blobs": [{"sha256": BUNDLE_SHA, "size": True}]}, "blobs.0.size"),
        ({"blobs": [{"sha256": BUNDLE_SHA}]}, "blobs.0.size"),
        ({"blobs": [{"sha256": BUNDLE_SHA, "size": 1, "path": "a.mthds"}]}, "blobs.0.path"),
        ({"blobs": [{"sha256": BUNDLE_SHA, "size": 1}, {"sha256": BUNDLE_SHA, "size": 2}]}, "blobs"),
        ({"blobs": {"sha256": BUNDLE_SHA, "size": 1}}, "blobs"),
        ({}, "blobs"),
        ({"blobs": [], "digest": BUNDLE_SHA}, "digest"),
        ([], "body"),
    ],
)
async def test_bad_blob_lists_name_the_field(client: httpx.AsyncClient, body: Any, field: str) -> None:
    document = assert_problem(await client.post("/v1/blobs/missing", json=body), 422, "request.invalid")
    assert document["params"] == {"field": field}


async def test_a_digest_and_other_members_are_accepted(client: httpx.AsyncClient) -> None:
    body = {"blobs": [{"sha256": OTHER_SHA, "size": 3}], "digest": f"sha256:{BUNDLE_SHA}", "note": "x"}
    response = await client.post("/v1/blobs/missing", json=body)
    assert [blob["sha256"] for blob in response.json()["missing"]] == [OTHER_SHA]


async def test_a_body_that_is_not_json_is_malformed(client: httpx.AsyncClient) -> None:
    assert_problem(await client.post("/v1/blobs/missing", content=b"{blobs"), 422, "request.malformed")


@pytest.mark.parametrize(
    ("blobs", "field", "limit"),
    [
        ([("1" * 64, 1), ("2" * 64, 1), ("3" * 64, 1), ("4" * 64, 1)], "blobs", 3),
        ([("1" * 64, 1), ("2" * 64, 4097)], "blobs.1.size", 4096),
        ([("1" * 64, 4096), ("2" * 64, 2049)], "blobs", 6144),
    ],
    ids=["files", "file-bytes", "total-bytes"],
)
async def test_blobs_past_the_tree_limits_are_too_large(
    client: httpx.AsyncClient, blobs: list[tuple[str, int]], field: str, limit: int
) -> None:
    body = {"blobs": [{"sha256": sha256, "size": size} for sha256, size in blobs]}
    document = assert_problem(await client.post("/v1/blobs/missing", json=body), 413, "request.too_large")
    assert document["params"]["field"] == field
    assert document["params"]["limit"] == limit


# --- PUT /v1/blobs/{sha256} ---------------------------------------------------------------------------


async def test_uploading_the_same_bytes_again_changes_nothing(client: httpx.AsyncClient) -> None:
    await _upload(client, OTHER)
    again = await client.put(_signed_path(OTHER_SHA), content=OTHER)
    assert (again.status_code, again.content) == (204, b"")


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?scope=single-tenant",
        f"?scope=single-tenant&expires={int(time.time()) + 3600}",
        f"?scope=single-tenant&expires={int(time.time()) + 3600}&signature={'0' * 64}",
        f"?scope=single-tenant&expires=soon&signature={'0' * 64}",
    ],
    ids=["no-query", "scope-only", "no-signature", "forged", "bad-expiry"],
)
async def test_uploads_without_a_valid_target_are_forbidden(client: httpx.AsyncClient, query: str) -> None:
    response = await client.put(f"/v1/blobs/{OTHER_SHA}{query}", content=OTHER)
    document = assert_problem(response, 403, "auth.forbidden")
    assert document["params"] == {"requirement": "signed_upload_target"}
    assert (document["domain"], document["next_step"]["kind"]) == ("account", "request_access")
    assert len(await _missing(client, [(OTHER_SHA, len(OTHER))])) == 1, "nothing was stored"


async def test_an_expired_target_is_forbidden(client: httpx.AsyncClient) -> None:
    response = await client.put(_signed_path(OTHER_SHA, expires=int(time.time()) - 5), content=OTHER)
    assert_problem(response, 403, "auth.forbidden")


async def test_a_target_of_another_hash_or_scope_is_forbidden(client: httpx.AsyncClient) -> None:
    moved = _signed_path(BUNDLE_SHA).replace(f"/v1/blobs/{BUNDLE_SHA}", f"/v1/blobs/{OTHER_SHA}")
    assert_problem(await client.put(moved, content=OTHER), 403, "auth.forbidden")
    (blob,) = await _missing(client, [(OTHER_SHA, len(OTHER))])
    rescoped = blob["upload"]["url"].replace("scope=single-tenant", "scope=k_" + "0" * 32)
    assert_problem(await client.put(rescoped, content=OTHER), 403, "auth.forbidden")


async def test_a_key_of_another_process_signs_no_target(tmp_path: Path) -> None:
    async with asgi_client(_settings(tmp_path, blob_upload_signing_key=None)) as client:
        assert_problem(await client.put(_signed_path(OTHER_SHA), content=OTHER), 403, "auth.forbidden")


async def test_bytes_of_another_hash_are_refused_and_not_stored(client: httpx.AsyncClient) -> None:
    response = await client.put(_signed_path(OTHER_SHA), content=OTHER + b"\n")
    assert assert_problem(response, 422, "request.invalid")["params"] == {"field": "body"}
    assert len(await _missing(client, [(OTHER_SHA, len(OTHER))])) == 1


async def test_a_blob_past_the_file_limit_is_too_large(client: httpx.AsyncClient) -> None:
    data = b"x" * 4097
    sha256 = hashlib.sha256(data).hexdigest()
    declared = await client.put(_signed_path(sha256), content=data)
    document = assert_problem(declared, 413, "request.too_large")
    assert document["params"] == {"field": "body", "limit": 4096, "size": 4097}

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as read
        for _ in range(5):
            yield b"x" * 1024

    streamed = await client.put(_signed_path(sha256), content=chunks())
    assert assert_problem(streamed, 413, "request.too_large")["params"]["field"] == "body"


@pytest.mark.parametrize("path", ["abc", BUNDLE_SHA.upper(), BUNDLE_SHA + "0", "g" * 64])
async def test_a_path_that_is_no_hash_is_invalid(client: httpx.AsyncClient, path: str) -> None:
    response = await client.put(f"/v1/blobs/{path}?scope=single-tenant&expires=1&signature=x", content=OTHER)
    assert assert_problem(response, 422, "request.invalid")["params"] == {"field": "sha256"}


async def test_a_damaged_blob_is_never_written_over(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    # What only damaged storage holds: other bytes under the hash.
    LocalBlobStore(settings.storage_root).put(
        f"{METHOD_BLOBS_FOLDER}/single-tenant/{OTHER_SHA}", b"damaged", "application/octet-stream"
    )
    async with asgi_client(settings) as client:
        response = await client.put(_signed_path(OTHER_SHA), content=OTHER)
        assert assert_problem(response, 500, "runtime.unexpected")["params"] == {"sha256": OTHER_SHA}
        body = {"files": {"a.mthds": {"sha256": OTHER_SHA, "size": len(OTHER)}}}
        assert_problem(await client.post("/v1/validate", json=body), 500, "runtime.unexpected")


# --- hash entries on /v1/validate ---------------------------------------------------------------------


async def test_validate_reads_uploaded_files_by_hash(client: httpx.AsyncClient) -> None:
    await _upload(client, BUNDLE)
    for path in ("/v1/validate", "/api/v1/validate", "/api/v1/pipeline/validate"):
        response = await client.post(path, json=_hash_files())
        assert response.status_code == 200, response.text
        assert response.json()["is_valid"] is True


# Every route that reads a method, with the members it needs beside `files`.
TOOLING_ROUTES: list[tuple[str, dict[str, Any]]] = [
    ("/v1/pipe-io", {}),
    ("/v1/resolve", {}),
    ("/v1/codegen", {"kind": "types", "target": "python-pydantic"}),
    ("/v1/build/inputs", {}),
    ("/v1/build/output", {}),
    ("/v1/build/runner", {}),
    ("/api/v1/build/inputs", {}),
    ("/api/v1/pipe-builder/generate-runner", {}),
]


@pytest.mark.parametrize(("path", "extra"), TOOLING_ROUTES)
async def test_the_tooling_routes_read_uploaded_files_by_hash(
    client: httpx.AsyncClient, path: str, extra: dict[str, Any]
) -> None:
    refused = await client.post(path, json=_hash_files(**extra))
    assert assert_problem(refused, 422, "request.blobs_missing")["params"] == {"missing_blobs": [BUNDLE_SHA]}
    await _upload(client, BUNDLE)
    response = await client.post(path, json=_hash_files(**extra))
    assert response.status_code == 200, response.text
    assert response.json()["is_valid"] is True


async def test_every_missing_hash_is_named_once(tmp_path: Path) -> None:
    async with asgi_client(_settings(tmp_path, max_bundle_files=10)) as client:
        await _upload(client, BUNDLE)
        files = {
            "greet.mthds": {"sha256": BUNDLE_SHA, "size": len(BUNDLE)},
            "z.mthds": {"sha256": "f" * 64, "size": 3},
            "a.mthds": {"sha256": "0" * 64, "size": 3},
            "again.mthds": {"sha256": "f" * 64, "size": 3},
            "inline.mthds": 'domain = "inline"\n',
        }
        response = await client.post("/v1/validate", json={"files": files})
    document = assert_problem(response, 422, "request.blobs_missing")
    assert document["params"] == {"missing_blobs": ["0" * 64, "f" * 64]}
    assert document["location"] == {"field": "files"}
    assert "POST /v1/blobs/missing" in document["next_step"]["detail"]


async def test_a_wrong_size_for_a_held_blob_is_invalid(client: httpx.AsyncClient) -> None:
    await _upload(client, BUNDLE)
    body = {"files": {"greet.mthds": {"sha256": BUNDLE_SHA, "size": len(BUNDLE) + 1}}}
    document = assert_problem(await client.post("/v1/validate", json=body), 422, "request.invalid")
    assert document["params"] == {"field": "files"}


async def test_stated_sizes_count_against_the_limits_before_any_read(client: httpx.AsyncClient) -> None:
    over_file = {"files": {"a.mthds": {"sha256": "1" * 64, "size": 4097}}}
    assert_problem(await client.post("/v1/validate", json=over_file), 413, "request.too_large")
    inline = "#" * 3000
    over_total = {"files": {"a.mthds": inline, "b.mthds": {"sha256": "1" * 64, "size": 4000}}}
    assert_problem(await client.post("/v1/validate", json=over_total), 413, "request.too_large")


async def test_blobs_stay_in_their_tenant(tmp_path: Path) -> None:
    async with asgi_client(_settings(tmp_path, **TWO_TENANTS)) as client:
        assert_problem(
            await client.post("/v1/blobs/missing", json={"blobs": []}), 401, "auth.missing_credential"
        )
        await _upload(client, BUNDLE, _bearer("acme"))
        held = await client.post("/v1/validate", json=_hash_files(), headers=_bearer("acme"))
        assert held.json()["is_valid"] is True
        refused = await client.post("/v1/validate", json=_hash_files(), headers=_bearer("globex"))
        assert assert_problem(refused, 422, "request.blobs_missing")["params"] == {
            "missing_blobs": [BUNDLE_SHA]
        }
        (blob,) = await _missing(client, [(BUNDLE_SHA, len(BUNDLE))], _bearer("globex"))
        scope = Caller(identity="globex", mode=AuthMode.API_KEY).storage_prefix
        assert parse_qs(urlsplit(str(blob["upload"]["url"])).query)["scope"] == [scope]


# --- runs, over real HTTP with a worker on Temporal ---------------------------------------------------


async def test_a_run_by_hash_completes_and_another_tenant_cannot_use_the_blob(
    temporal_address: str, tmp_path: Path
) -> None:
    overrides = {**TWO_TENANTS, "blob_upload_signing_key": SecretStr(SIGNING_KEY)}
    async with run_stack(temporal_address, tmp_path, api_overrides=overrides) as stack:
        # The upload goes to the URL the service named, on its own socket, with no credential.
        await _upload(stack.client, BUNDLE, _bearer("acme"))
        body = _hash_files(inputs={"name": "Ada"})
        done = await stack.client.post("/v1/execute", json=body, headers=_bearer("acme"))
        assert done.status_code == 200, done.text
        assert done.json()["state"] == "COMPLETED"
        root = done.json()["pipe_output"]["working_memory"]["root"]
        assert root["wrapped"]["content"] == {"text": ">> Hello, Ada! <<"}

        legacy = await stack.client.post("/api/v1/pipeline/execute", json=body, headers=_bearer("acme"))
        assert legacy.status_code == 200, legacy.text
        assert legacy.json()["state"] == "COMPLETED"

        refused = await stack.client.post("/v1/execute", json=body, headers=_bearer("globex"))
        assert assert_problem(refused, 422, "request.blobs_missing")["params"] == {
            "missing_blobs": [BUNDLE_SHA]
        }
        for path in ("/v1/start", "/api/v1/pipeline/start", "/api/v1/pipeline/execute"):
            started = await stack.client.post(path, json=body, headers=_bearer("globex"))
            assert_problem(started, 422, "request.blobs_missing")
        listed = await stack.client.get("/v1/runs", headers=_bearer("globex"))
        assert listed.json()["items"] == [], "a refused request starts nothing"


async def test_the_mthds_client_uploads_to_the_named_targets(temporal_address: str, tmp_path: Path) -> None:
    overrides = {**TWO_TENANTS, "blob_upload_signing_key": SecretStr(SIGNING_KEY)}
    async with (
        run_stack(temporal_address, tmp_path, api_overrides=overrides) as stack,
        MthdsAPIClient(
            api_key=TENANT_KEYS["globex"], base_url=stack.base_url, request_timeout_seconds=60
        ) as client,
    ):
        answer = await client.missing_blobs([BlobRef(sha256=BUNDLE_SHA, size=len(BUNDLE))])
        (blob,) = answer.missing
        await client.upload_blob(blob, BUNDLE)
        assert (await client.missing_blobs([BlobRef(sha256=BUNDLE_SHA, size=len(BUNDLE))])).missing == []
        result = await client.execute(files=_hash_files()["files"], inputs={"name": "Grace"})
        assert result.pipe_output.working_memory.root["wrapped"].content == {"text": ">> Hello, Grace! <<"}
