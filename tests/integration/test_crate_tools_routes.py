"""`POST /v1/resolve` and `POST /v1/codegen` (docs/design/tooling-routes.md §3, §4) through the real app:
the answers' exact shapes, the invalid arm, every refusal, and the ts-zod output compiled by `tsc --strict`
and run by node.

The shapes were compared with pipelex-api 0.92.2's while these routes were written (the report of
issue 16): these tests pin them without needing the reference.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from api.auth import AuthMode
from api.routes.meta import IMPLEMENTATION_VERSION
from api.settings import ApiSettings
from shared.language.content_schema import concept_json_schema
from shared.language.model_deck import builtin_deck
from shared.language.report import BundleSource
from shared.language.validator import validate_sources
from shared.runtime.schema_mocks import mock_from_schema
from shared.tooling.codegen_ts import ts_type_names
from tests.helpers.api_server import CODE_PATTERN, asgi_client, assert_problem
from tests.helpers.crate_bundles import CRM, SHOP, SHOP_SOURCES, TRICKY_SOURCES

REPO_ROOT = Path(__file__).resolve().parents[2]
HELLO = (REPO_ROOT / "docs" / "examples" / "hello.mthds").read_text()
SHOP_FILES = {"shop.mthds": SHOP, "crm/crm.mthds": CRM}
CRATE_KEYS = ["mthds_version", "concepts", "pipes", "domains", "source_map", "fingerprint"]
CODEGEN_KEYS = [
    "is_valid", "kind", "target", "crate_fingerprint", "engine_version", "artifacts", "lock", "lock_filename",
    "message",
]  # fmt: skip
ARTIFACTS = {
    "python-pydantic": ["models.py"],
    "python-structures": ["structures.py"],
    "ts-zod": ["binder.ts", "types.ts"],
}
UNKNOWN_CONCEPT = HELLO.replace('output = "Welcome"\nsteps', 'output = "Welcom"\nsteps')
BROKEN_TOML = 'domain = "hello"\n[pipe.greet\n'
TS_PACKAGES = {"typescript": "5.9.3", "zod": "4.6.7"}
TSC_FLAGS = [
    "--strict", "--skipLibCheck", "--esModuleInterop", "--target", "es2022", "--module", "commonjs",
    "--moduleResolution", "node",
]  # fmt: skip


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client() as client:
        yield client


async def _answer(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    answer: dict[str, Any] = response.json()
    return answer


def _codegen(target: str, files: dict[str, str] | None = None) -> dict[str, Any]:
    return {"files": files or {"hello.mthds": HELLO}, "kind": "types", "target": target}


async def test_resolve_answers_the_crate_of_the_method(client: httpx.AsyncClient) -> None:
    answer = await _answer(client, "/v1/resolve", {"files": {"hello.mthds": HELLO}})
    assert list(answer) == ["is_valid", "crate", "message"]
    assert answer["is_valid"] is True
    assert answer["message"] == "MTHDS library resolved successfully"
    crate = answer["crate"]
    assert list(crate) == CRATE_KEYS
    assert crate["mthds_version"] == "8.0.0"
    assert list(crate["concepts"]) == ["hello.Welcome", "native.Text"]
    assert crate["pipes"]["hello.welcome"]["steps"] == [
        {"pipe": "hello.greet", "result": "greeting"},
        {"pipe": "hello.wrap", "result": "welcome"},
    ]
    assert crate["pipes"]["hello.greet"] == {
        "type": "PipeCompose",
        "description": "Greets the guest",
        "inputs": {"name": "native.Text"},
        "output": "native.Text",
        "template": "Hello, {{ name }}!",
    }
    assert crate["domains"] == {
        "hello": {
            "code": "hello",
            "description": "An offline example: no model, every step runs in the workflow",
            "main_pipe": "welcome",
        }
    }
    assert set(crate["source_map"].values()) == {"hello.mthds"}
    canonical = json.dumps(
        {key: crate[key] for key in ("concepts", "pipes", "domains")},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    assert crate["fingerprint"] == hashlib.sha256(canonical.encode("utf-8")).hexdigest()


async def test_resolve_reads_every_method_source_and_ignores_a_pipe_ref(client: httpx.AsyncClient) -> None:
    by_files = await _answer(client, "/v1/resolve", {"files": SHOP_FILES, "pipe_ref": "nowhere"})
    by_contents = await _answer(
        client,
        "/v1/resolve",
        {"mthds_contents": [SHOP, CRM], "mthds_sources": ["shop.mthds", "crm/crm.mthds"]},
    )
    assert by_files == by_contents
    assert by_files["crate"]["source_map"]["crm.Customer"] == "crm/crm.mthds"


@pytest.mark.parametrize("path", ["/v1/resolve", "/v1/codegen"])
async def test_a_method_that_does_not_validate_gets_the_invalid_arm(
    client: httpx.AsyncClient, path: str
) -> None:
    for text, code in ((UNKNOWN_CONCEPT, "method.concept_unresolved"), (BROKEN_TOML, "method.syntax")):
        answer = await _answer(client, path, _codegen("ts-zod", {"hello.mthds": text}))
        assert list(answer) == ["is_valid", "errors", "message"]
        assert answer["is_valid"] is False
        assert answer["message"] == "The method does not validate."
        assert [item["code"] for item in answer["errors"]] == [code]
        for item in answer["errors"]:
            assert CODE_PATTERN.match(item["code"])
            assert item["location"]["file"] == "hello.mthds"
            assert all(value is not None for value in item.values())


@pytest.mark.parametrize("target", sorted(ARTIFACTS))
async def test_codegen_answers_stamped_artifacts_and_their_lock(
    client: httpx.AsyncClient, target: str
) -> None:
    fingerprint = (await _answer(client, "/v1/resolve", {"files": SHOP_FILES}))["crate"]["fingerprint"]
    answer = await _answer(client, "/v1/codegen", _codegen(target, SHOP_FILES))
    assert list(answer) == CODEGEN_KEYS
    assert answer["is_valid"] is True
    assert (answer["kind"], answer["target"]) == ("types", target)
    assert answer["crate_fingerprint"] == fingerprint
    assert answer["engine_version"] == IMPLEMENTATION_VERSION
    assert answer["lock_filename"] == "codegen.lock"
    assert answer["message"] == "Codegen artifacts generated successfully"
    assert [artifact["path"] for artifact in answer["artifacts"]] == ARTIFACTS[target]
    comment = "#" if target.startswith("python") else "//"
    hashes: dict[str, str] = {}
    for artifact in answer["artifacts"]:
        assert list(artifact) == ["path", "content"]
        head, _, body = artifact["content"].partition(f"{comment} <<< pipelex-codegen-stamp <<<\n")
        assert head.split("\n")[:-1] == [
            f"{comment} >>> pipelex-codegen-stamp >>>",
            f"{comment} crate_fingerprint: {fingerprint}",
            f"{comment} engine_version: {IMPLEMENTATION_VERSION}",
            f"{comment} projection: types / {target}",
            f"{comment} options: {{}}",
            f"{comment} content_hash: {hashlib.sha256(body.encode('utf-8')).hexdigest()}",
        ]
        hashes[artifact["path"]] = hashlib.sha256(body.encode("utf-8")).hexdigest()
    lock = tomllib.loads(answer["lock"])
    assert lock == {
        "lock_version": 1,
        "crate_fingerprint": fingerprint,
        "engine_version": IMPLEMENTATION_VERSION,
        "artifacts": [{"path": path, "content_hash": hashes[path]} for path in sorted(hashes)],
    }


async def test_codegen_refuses_a_bad_kind_target_or_pipe_ref(client: httpx.AsyncClient) -> None:
    files = {"hello.mthds": HELLO}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"files": files, "target": "ts-zod"}, "kind"),
        ({"files": files, "kind": "docs", "target": "ts-zod"}, "kind"),
        ({"files": files, "kind": ["types"], "target": "ts-zod"}, "kind"),
        ({"files": files, "kind": "types"}, "target"),
        ({"files": files, "kind": "types", "target": "rust-serde"}, "target"),
        ({"files": files, "kind": "types", "target": None}, "target"),
        ({"files": files, "kind": "docs", "target": "rust-serde"}, "kind"),  # the first bad field is named
        ({"files": files, "kind": "types", "target": "ts-zod", "pipe_ref": "welcome"}, "pipe_ref"),
        ({"files": files, "kind": "types", "target": "ts-zod", "pipe_ref": 3}, "pipe_ref"),
    ]
    for body, field in cases:
        document = assert_problem(await client.post("/v1/codegen", json=body), 422, "request.invalid")
        assert document["params"] == {"field": field}, body
        assert document["location"] == {"field": field}
        if field == "target":
            assert "'python-pydantic', 'python-structures', 'ts-zod'" in document["detail"]
        if field == "kind":
            assert "'types'" in document["detail"]


@pytest.mark.parametrize("path", ["/v1/resolve", "/v1/codegen"])
async def test_a_request_without_a_usable_method_is_refused(client: httpx.AsyncClient, path: str) -> None:
    axes = {"kind": "types", "target": "python-pydantic"}
    document = assert_problem(await client.post(path, json=axes), 422, "request.invalid")
    assert document["params"]["field"] == "mthds_contents"
    response = await client.post(path, json={"method_ref": "github.com/acme/methods"} | axes)
    assert assert_problem(response, 422, "request.unsupported")["params"]["field"] == "method_ref"
    response = await client.post(path, content=b"{not json", headers={"content-type": "application/json"})
    assert_problem(response, 422, "request.malformed")
    assert_problem(await client.post(path, json=["files"]), 422, "request.invalid")
    response = await client.post(path, json={"files": {"notes.txt": "no bundle here"}} | axes)
    assert assert_problem(response, 422, "request.invalid")["params"]["field"] == "files"


async def test_the_routes_are_authenticated_and_documented() -> None:
    settings = ApiSettings(auth_mode=AuthMode.API_KEY, api_key=SecretStr("crate-key"))
    async with asgi_client(settings) as client:
        for path in ("/v1/resolve", "/v1/codegen"):
            body = _codegen("python-pydantic")
            assert_problem(await client.post(path, json=body), 401, "auth.missing_credential")
            granted = await client.post(path, json=body, headers={"Authorization": "Bearer crate-key"})
            assert granted.json()["is_valid"] is True
        paths = (await client.get("/openapi.json")).json()["paths"]
    codegen = paths["/v1/codegen"]["post"]
    schema = codegen["requestBody"]["content"]["application/json"]["schema"]
    assert {"files", "mthds_contents", "kind", "target", "pipe_ref"} <= set(schema["properties"])
    assert {"kind", "target"} <= set(schema["required"])
    assert schema["properties"]["target"]["enum"] == ["python-pydantic", "python-structures", "ts-zod"]
    assert (
        "files"
        in paths["/v1/resolve"]["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]
    )
    for operation in (codegen, paths["/v1/resolve"]["post"]):
        assert "200" in operation["responses"]
        assert "x-mthds-protocol" not in json.dumps(operation)


# -- the ts-zod output, compiled and run ----------------------------------------------------------


@pytest.fixture(scope="module")
def ts_toolchain() -> Path:
    """`node_modules` with typescript and zod, installed once under the ignored `.cache/ts-zod-check/`."""
    if shutil.which("node") is None or shutil.which("npm") is None or shutil.which("npx") is None:
        pytest.skip("node, npm and npx are needed to compile the ts-zod output")
    cache = REPO_ROOT / ".cache" / "ts-zod-check"
    cache.mkdir(parents=True, exist_ok=True)
    manifest = json.dumps({"private": True, "devDependencies": TS_PACKAGES}, indent=2) + "\n"
    installed = all((cache / "node_modules" / name / "package.json").is_file() for name in TS_PACKAGES)
    if (
        not installed
        or not (cache / "package.json").is_file()
        or (cache / "package.json").read_text() != manifest
    ):
        (cache / "package.json").write_text(manifest)
        done = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund"],
            cwd=cache,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert done.returncode == 0, f"npm install failed:\n{done.stdout}{done.stderr}"
    return cache / "node_modules"


async def _run(command: list[str], *, cwd: Path) -> str:
    """`command`'s output; it must succeed within four minutes (tsc over three methods takes seconds)."""
    async with asyncio.timeout(240):
        process = await asyncio.create_subprocess_exec(
            *command,
            cwd=cwd,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=os.environ | {"npm_config_update_notifier": "false"},
        )
        output, _ = await process.communicate()
    text = output.decode()
    assert process.returncode == 0, f"{' '.join(command)} failed:\n{text}"
    return text


def _examples(sources: tuple[BundleSource, ...]) -> dict[str, Any]:
    """A mock content of every concept of the method (by its TypeScript name), from its JSON Schema."""
    report = validate_sources(sources, builtin_deck())
    assert report.library is not None
    crate_refs = {ref for ref in report.library.concepts if not ref.startswith("native.")}
    examples: dict[str, Any] = {}
    for ref in crate_refs:
        schema = concept_json_schema(report.library, ref)
        examples[ref] = mock_from_schema(schema, seed=ref) if schema.get("properties") else {"anything": [1]}
    return examples


SHOP_CHECKS = """
const minimal = { reference: "r", placed_on: "2026-01-01", channel: "web" as const, items: [{ label: "a", unit_price: 2 }], buyer: { name: "n" } };
const order = binder.parseOrder(minimal);
const status: "open" | "shipped" | "closed" = order.status;
const quantity: number = order.items[0].quantity;
const email: string | null | undefined = binder.parseCustomer({ name: "n" }).email;
let refused = false;
try {
  binder.parseOrder({ ...minimal, channel: "phone" });
} catch {
  refused = true;
}
results["__checks"] = { status, quantity, email: email ?? "absent", refused, paid: order.paid };
"""


@pytest.mark.timeout(300)
async def test_the_ts_zod_output_compiles_strictly_and_parses_examples(
    client: httpx.AsyncClient, ts_toolchain: Path, tmp_path: Path
) -> None:
    methods: dict[str, tuple[BundleSource, ...]] = {
        "shop": SHOP_SOURCES,
        "hello": (BundleSource(path="hello.mthds", text=HELLO),),
        "tricky": TRICKY_SOURCES,
    }
    sources: list[str] = []
    expected: dict[str, dict[str, Any]] = {}
    for name, bundles in methods.items():
        files = {bundle.path: bundle.text for bundle in bundles}
        answer = await _answer(client, "/v1/codegen", _codegen("ts-zod", files))
        resolved = await _answer(client, "/v1/resolve", {"files": files})
        names = ts_type_names(resolved["crate"])
        folder = tmp_path / name
        folder.mkdir()
        for artifact in answer["artifacts"]:
            (folder / artifact["path"]).write_text(artifact["content"], encoding="utf-8")
        examples = {names[ref]: example for ref, example in _examples(bundles).items()}
        calls = "".join(
            f"results[{json.dumps(type_name)}] = binder.serialize{type_name}(binder.parse{type_name}({json.dumps(example)}));\n"
            for type_name, example in sorted(examples.items())
        )
        checks = SHOP_CHECKS if name == "shop" else ""
        (folder / "check.ts").write_text(
            'import * as binder from "./binder";\n\nconst results: Record<string, unknown> = {};\n'
            + calls
            + checks
            + "console.log(JSON.stringify(results));\n",
            encoding="utf-8",
        )
        sources += [f"{name}/types.ts", f"{name}/binder.ts", f"{name}/check.ts"]
        expected[name] = examples
    (tmp_path / "package.json").write_text(json.dumps({"private": True, "type": "commonjs"}) + "\n")
    (tmp_path / "node_modules").symlink_to(ts_toolchain, target_is_directory=True)

    await _run(["npx", "--no-install", "tsc", "--noEmit", *TSC_FLAGS, *sources], cwd=tmp_path)
    await _run(["npx", "--no-install", "tsc", *TSC_FLAGS, "--outDir", "build", *sources], cwd=tmp_path)
    for name, examples in expected.items():
        results = json.loads(await _run(["node", f"build/{name}/check.js"], cwd=tmp_path))
        checks = results.pop("__checks", None)
        assert results == examples, name  # every example parsed and serialized back unchanged
        if name == "shop":
            assert checks == {
                "status": "open",
                "quantity": 1,
                "email": "absent",
                "refused": True,
                "paid": False,
            }
