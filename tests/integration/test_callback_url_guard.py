"""The SSRF guard on `callback_urls` (http-api.md §4.5 step 4, §10.5) over real HTTP against real Temporal,
and the pinned connection the workers use (checked address, Host and TLS name kept) against loopback servers.

No traffic leaves the machine: refused URLs are never contacted, names resolve from /etc/hosts or from
an injected resolver, and the receivers listen on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import ipaddress
import shutil
import ssl
import subprocess
import uuid
from collections.abc import AsyncGenerator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.auth import SINGLE_TENANT
from shared.runs.names import run_workflow_id
from shared.security.address_rules import refused_host_name
from shared.security.destination import pinned_request_args, resolve_checked
from tests.helpers.api_server import assert_problem
from tests.helpers.run_stack import RunStack, run_stack
from tests.integration.test_runs import greet_body
from worker.temporal_connection import connect

SECRET = "cbsecret"  # noqa: S105 -- the spec's example secret, never a real one
GUARDED = {"completion_callback_secret": SECRET}
RELAXED = {"completion_callback_secret": SECRET, "allow_private_callback_urls": True}

REFUSED = [
    ("http://127.0.0.1:9/hook", "host_not_allowed", "loopback"),
    ("http://[::1]:9/hook", "host_not_allowed", "loopback"),
    ("http://10.0.0.1/hook", "host_not_allowed", "private"),
    ("http://169.254.169.254/latest/meta-data/", "host_not_allowed", "link_local"),
    ("http://[fd00:ec2::254]/", "host_not_allowed", "metadata"),
    ("http://[::ffff:127.0.0.1]/", "host_not_allowed", "loopback"),
    ("http://localhost/", "host_not_allowed", "loopback"),
    ("http://metadata.google.internal/computeMetadata/v1/", "host_not_allowed", "metadata"),
    ("http://2130706433/", "host_not_allowed", "loopback"),  # 127.0.0.1 as one number, resolved by the system
    ("file:///etc/passwd", "scheme_not_allowed", "scheme"),
    ("gopher://127.0.0.1:70/_GET", "scheme_not_allowed", "scheme"),
    ("http://user:secret@example.com/hook", "host_not_allowed", "userinfo"),
]


def new_id(label: str) -> str:
    return f"{label}-{uuid.uuid4()}"


@pytest.fixture
async def temporal(temporal_address: str) -> Client:
    return await connect(temporal_address)


@pytest.fixture
async def guarded(temporal_address: str, tmp_path: Path) -> AsyncGenerator[RunStack]:
    """An API with the guard on and no worker: nothing here may ever run."""
    async with run_stack(temporal_address, tmp_path, worker=False, api_overrides=GUARDED) as stack:
        yield stack


async def assert_never_started(stack: RunStack, temporal: Client, run_id: str) -> None:
    assert_problem(await stack.client.get(f"/v1/runs/{run_id}"), 404, "run.not_found")
    with pytest.raises(RPCError) as raised:
        await temporal.get_workflow_handle(run_workflow_id(SINGLE_TENANT, run_id)).describe()
    assert raised.value.status == RPCStatusCode.NOT_FOUND


async def assert_refused(
    stack: RunStack,
    temporal: Client,
    urls: list[str],
    reason: str,
    target_class: str,
    *,
    route: str = "/v1/start",
) -> dict[str, Any]:
    run_id = new_id("ssrf")
    answer = await stack.client.post(route, json=greet_body(pipeline_run_id=run_id, callback_urls=urls))
    document = assert_problem(answer, 422, "security.input_url_refused")
    assert document["params"] == {"input": "callback_urls", "reason": reason, "target_class": target_class}
    assert document["location"] == {"field": "callback_urls"}
    await assert_never_started(stack, temporal, run_id)
    return document


@pytest.mark.parametrize(("url", "reason", "target_class"), REFUSED)
async def test_a_refused_callback_url_answers_422_and_starts_nothing(
    guarded: RunStack, temporal: Client, url: str, reason: str, target_class: str
) -> None:
    document = await assert_refused(guarded, temporal, [url], reason, target_class)
    assert "secret" not in document["detail"], "the URL (and its userinfo) is not echoed"
    # A loopback or private receiver is refused by a switch the operator owns: the detail names it.
    names_switch = "ALLOW_PRIVATE_CALLBACK_URLS" in document["detail"]
    assert names_switch == (target_class in {"loopback", "private"})


async def test_execute_is_guarded_too_and_the_first_refused_url_answers(
    guarded: RunStack, temporal: Client
) -> None:
    urls = ["https://93.184.216.34/hook", "http://10.1.2.3/", "file:///etc/passwd"]
    document = await assert_refused(
        guarded, temporal, urls, "host_not_allowed", "private", route="/v1/execute"
    )
    assert "#2" in document["detail"]


def names_resolving_only_to_loopback() -> list[str]:
    """Names /etc/hosts maps to loopback addresses only, except those the name rule refuses by itself."""
    try:
        lines = Path("/etc/hosts").read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    addresses_of: dict[str, set[str]] = {}
    for line in lines:
        fields = line.split("#", 1)[0].split()
        for name in fields[1:]:
            addresses_of.setdefault(name.lower(), set()).add(fields[0])
    return [
        name
        for name, addresses in addresses_of.items()
        if refused_host_name(name) is None and all(_is_loopback(address) for address in addresses)
    ]


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


async def test_a_host_name_resolving_to_loopback_is_refused(guarded: RunStack, temporal: Client) -> None:
    names = names_resolving_only_to_loopback()
    if not names:
        # The name rule then has no such name to test here; the injected-resolver unit tests
        # (tests/unit/test_address_rules.py) cover "a name resolving to loopback" on every machine.
        pytest.skip("/etc/hosts maps no name other than localhost to loopback only")
    await assert_refused(guarded, temporal, [f"http://{names[0]}:9/hook"], "host_not_allowed", "loopback")


async def test_allow_private_accepts_loopback_and_keeps_the_scheme_rule(
    temporal_address: str, tmp_path: Path, temporal: Client
) -> None:
    async with run_stack(temporal_address, tmp_path, worker=False, api_overrides=RELAXED) as stack:
        run_id = new_id("ssrf-relaxed")
        urls = ["http://127.0.0.1:9/hook", "http://localhost:9/hook", "http://[::1]:9/hook"]
        started = await stack.client.post(
            "/v1/start", json=greet_body(pipeline_run_id=run_id, callback_urls=urls)
        )
        assert started.status_code == 202, started.text
        assert started.json()["pipeline_run_id"] == run_id
        await temporal.get_workflow_handle(run_workflow_id(SINGLE_TENANT, run_id)).terminate(
            reason="test over: the run was only to be accepted"
        )
        await assert_refused(stack, temporal, ["gopher://127.0.0.1:70/"], "scheme_not_allowed", "scheme")


async def test_order_limits_then_the_guard_then_the_secret(temporal_address: str, tmp_path: Path) -> None:
    async with run_stack(temporal_address, tmp_path, worker=False) as stack:  # no signing secret
        six = ["http://10.0.0.1/"] * 6
        too_many = await stack.client.post("/v1/start", json=greet_body(callback_urls=six))
        assert assert_problem(too_many, 422, "request.invalid")["params"] == {"field": "callback_urls"}
        refused = await stack.client.post("/v1/start", json=greet_body(callback_urls=["http://10.0.0.1/"]))
        assert (
            assert_problem(refused, 422, "security.input_url_refused")["params"]["target_class"] == "private"
        )
        public = await stack.client.post(
            "/v1/start", json=greet_body(callback_urls=["https://93.184.216.34/"])
        )
        assert assert_problem(public, 500, "runtime.misconfigured")["params"] == {
            "component": "COMPLETION_CALLBACK_SECRET"
        }


class Receiver:
    """A loopback HTTP(S) server recording the Host header and TLS server name of each request."""

    def __init__(self) -> None:
        self.hosts: list[str] = []
        self.server_names: list[str | None] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        for line in head.decode("latin-1").split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "host":
                self.hosts.append(value.strip())
        writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()


@asynccontextmanager
async def receiving(context: ssl.SSLContext | None = None) -> AsyncGenerator[tuple[Receiver, int]]:
    receiver = Receiver()
    if context is not None:
        context.sni_callback = lambda _sock, name, _ctx: receiver.server_names.append(name)
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0, ssl=context)
    port: int = server.sockets[0].getsockname()[1]
    async with server:
        yield receiver, port


async def loopback_dns(host: str) -> Sequence[str]:
    assert host == "receiver.test", host
    return ["127.0.0.1"]


async def test_a_pinned_request_reaches_the_checked_address_under_its_own_name() -> None:
    async with receiving() as (receiver, port), httpx.AsyncClient(trust_env=False) as client:
        url = f"http://receiver.test:{port}/hook?x=1"
        destination = await resolve_checked(url, allow_private=True, resolver=loopback_dns)
        pinned, headers, extensions = pinned_request_args(destination, url)
        answer = await client.post(pinned, headers=headers, extensions=extensions, content=b"{}")
        assert answer.status_code == 204
        assert receiver.hosts == [f"receiver.test:{port}"]


def self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no openssl binary to make a test certificate")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", f"/CN={name}",
            "-addext", f"subjectAltName=DNS:{name}",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_a_pinned_tls_request_verifies_the_certificate_of_the_name(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path, "receiver.test")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    trusting = ssl.create_default_context(cafile=str(cert))
    async with (
        receiving(server_context) as (receiver, port),
        httpx.AsyncClient(verify=trusting, trust_env=False) as client,
    ):
        url = f"https://receiver.test:{port}/hook"
        destination = await resolve_checked(url, allow_private=True, resolver=loopback_dns)
        pinned, headers, extensions = pinned_request_args(destination, url)
        assert pinned == f"https://127.0.0.1:{port}/hook"
        answer = await client.post(pinned, headers=headers, extensions=extensions, content=b"{}")
        assert answer.status_code == 204
        assert receiver.server_names == ["receiver.test"]
        assert receiver.hosts == [f"receiver.test:{port}"]
        # Without the TLS name the certificate is checked against the address, and refused.
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.post(pinned, headers=headers, content=b"{}")
