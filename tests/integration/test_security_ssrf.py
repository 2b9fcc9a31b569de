"""SSRF through document URLs (http-api.md §4.3, §10.5): at request time over real HTTP against real
Temporal, and in the worker's fetch through redirects and names that resolve to private addresses.

At request time the API resolves with the system resolver, so the private names are the machine's own
(`localhost`, the host name in /etc/hosts). The worker's fetch takes an injected resolver: a "public"
name reaches a loopback server through a Unix socket transport, so every hop the guard let through
would arrive at that server, and none past a refused one does. Nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import tempfile
import uuid
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio.to_thread
import httpx
import pytest

from api.input_urls import FileInputs, check_input_urls
from api.problems import ProblemError
from shared.language.model_deck import builtin_deck
from shared.language.report import BundleSource
from shared.language.validator import validate_sources
from shared.runtime.run_failure import PipeRunError
from shared.storage.blob_store import LocalBlobStore
from tests.helpers.api_server import assert_problem
from tests.helpers.run_stack import RunStack, run_stack
from worker.files.url_fetch import fetch_url

PUBLIC_NAME = "files.example"
PUBLIC_ADDRESS = "93.184.216.34"
# Names the injected resolver answers: each a public-looking name for a private or mixed set of addresses.
PRIVATE_NAMES = {
    "internal.example": ["10.1.2.3"],
    "metadata.example": ["169.254.169.254"],
    "mixed.example": [PUBLIC_ADDRESS, "192.168.0.7"],
    "rebind.example": ["127.0.0.1"],
    "v6.example": ["::ffff:10.0.0.1"],
}
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
class Listener:
    """A loopback HTTP server that records each request and redirects `/go?to=URL` to URL."""

    port: int = 0
    requests: list[str] = field(default_factory=list[str])

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            target = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split(" ")[1]
            self.requests.append(target)
            location = parse_qs(urlsplit(target).query).get("to", [""])[0]
            status = "302 Found" if location else "200 OK"
            lines = [
                f"HTTP/1.1 {status}",
                "Connection: close",
                "Content-Length: 0",
                "Content-Type: image/png",
            ]
            lines += [f"Location: {location}"] if location else []
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@dataclass
class Serving:
    listener: Listener
    socket_path: str


@pytest.fixture
async def serving() -> AsyncGenerator[Serving]:
    listener = Listener()
    tcp = await asyncio.start_server(listener.handle, "127.0.0.1", 0)
    listener.port = tcp.sockets[0].getsockname()[1]
    directory = tempfile.mkdtemp(prefix="ssrf-")  # short: a socket path has ~100 characters at most
    socket_path = str(Path(directory) / "s")
    unix = await asyncio.start_unix_server(listener.handle, socket_path)
    try:
        async with tcp, unix:
            yield Serving(listener, socket_path)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
async def stack(temporal_address: str, tmp_path: Path) -> AsyncGenerator[RunStack]:
    # No worker and private input URLs refused (the default): nothing here may be fetched or run.
    async with run_stack(temporal_address, tmp_path, worker=False) as running:
        yield running


def request_time_urls(port: int) -> list[tuple[str, str]]:
    """`(url, target_class)`: spellings of private destinations, most of them the listener itself."""
    host_name = socket.gethostname()
    own_name = [(f"http://{host_name}:{port}/a.png", "loopback")] if _is_loopback_name(host_name) else []
    return [
        (f"http://127.0.0.1:{port}/a.png", "loopback"),
        (f"http://localhost:{port}/a.png", "loopback"),
        (f"http://LOCALHOST.:{port}/a.png", "loopback"),
        (f"http://anything.localhost:{port}/a.png", "loopback"),
        (f"http://127.1:{port}/a.png", "loopback"),
        (f"http://2130706433:{port}/a.png", "loopback"),
        (f"http://0x7f000001:{port}/a.png", "loopback"),
        (f"http://017700000001:{port}/a.png", "loopback"),
        (f"http://[::ffff:127.0.0.1]:{port}/a.png", "loopback"),
        (f"http://[::ffff:7f00:1]:{port}/a.png", "loopback"),
        (f"http://0.0.0.0:{port}/a.png", "unspecified"),
        (f"http://0:{port}/a.png", "unspecified"),
        (f"http://{PUBLIC_ADDRESS}@127.0.0.1:{port}/a.png", "userinfo"),
        (f"http://127.0.0.1:{port}#@{PUBLIC_ADDRESS}/a.png", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link_local"),
        ("http://[::ffff:a9fe:a9fe]/latest/meta-data/", "link_local"),
        ("http://[fd00:ec2::254]/latest/meta-data/", "metadata"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
        ("http://10.0.0.1/a.png", "private"),
        ("http://172.16.0.1/a.png", "private"),
        ("http://192.168.1.1/a.png", "private"),
        ("http://100.64.0.1/a.png", "shared"),
        ("http://[fe80::1%25eth0]/a.png", "link_local"),
        ("http://224.0.0.1/a.png", "multicast"),
        *own_name,
    ]


def _is_loopback_name(name: str) -> bool:
    try:
        return all(str(info[4][0]).startswith("127.") for info in socket.getaddrinfo(name, None))
    except OSError:
        return False


async def test_private_destinations_are_refused_at_request_time_and_never_contacted(
    stack: RunStack, serving: Serving
) -> None:
    for url, target_class in request_time_urls(serving.listener.port):
        for photo in ({"url": url}, [{"url": url}], {"concept": "Image", "content": {"url": url}}):
            run_id = f"ssrf-{uuid.uuid4()}"
            bundle = PHOTO.replace('"Image"', '"Image[]"') if isinstance(photo, list) else PHOTO
            body = {"mthds_contents": [bundle], "inputs": {"photo": photo}, "pipeline_run_id": run_id}
            document = assert_problem(
                await stack.client.post("/v1/start", json=body), 422, "security.input_url_refused"
            )
            reason = "host_not_allowed"
            assert document["params"] == {"input": "photo", "reason": reason, "target_class": target_class}, (
                url
            )
            assert_problem(await stack.client.get(f"/v1/runs/{run_id}"), 404, "run.not_found")
    assert serving.listener.requests == [], "a refused URL is never contacted"


async def test_a_bare_string_url_for_an_image_is_refused_at_request_time(
    stack: RunStack, serving: Serving
) -> None:
    url = f"http://127.0.0.1:{serving.listener.port}/a.png"
    for photo in (url, {"concept": "Image", "content": url}):
        body = {"mthds_contents": [PHOTO], "inputs": {"photo": photo}}
        assert_problem(await stack.client.post("/v1/start", json=body), 422, "security.input_url_refused")
    assert serving.listener.requests == []


async def test_file_inputs_judge_the_bare_strings_of_image_inputs(serving: Serving, tmp_path: Path) -> None:
    # What the request does: `check_input_urls` given the entry pipe (`FileInputs`).
    text = PHOTO.replace(
        'inputs = { photo = "Image" }', 'inputs = { photo = "Image[]", note = "Text" }'
    ).replace("{{ photo.url }}", "{{ photo }} {{ note.text }}")
    report = validate_sources([BundleSource(path="photos.mthds", text=text)], builtin_deck())
    assert report.library is not None, report.issues
    files = FileInputs(report.library, report.library.pipes["photos.caption"])
    private = f"http://127.0.0.1:{serving.listener.port}/a.png"
    store = LocalBlobStore(tmp_path)

    def check(inputs: dict[str, Any]) -> None:
        check_input_urls(
            inputs, storage_prefix="single-tenant", store=store, allow_private=False, files=files
        )

    refused_inputs = [
        {"photo": [private], "note": "a"},
        {"photo": ["https://93.184.216.34/ok.png", private], "note": "a"},
        {"photo": {"concept": "Image", "content": [private]}, "note": "a"},
        {"photo": ["ftp://files.example/a.png"], "note": "a"},
    ]
    for inputs in refused_inputs:
        with pytest.raises(ProblemError) as caught:
            await anyio.to_thread.run_sync(check, inputs)
        assert caught.value.code == "security.input_url_refused", inputs
        assert caught.value.params["input"] == "photo"
    # A Text input is text, whatever it looks like: never judged as a URL.
    await anyio.to_thread.run_sync(check, {"photo": ["data:image/png;base64,iVBORw0KGgo="], "note": private})
    assert serving.listener.requests == []


async def injected_dns(host: str) -> Sequence[str]:
    if host == PUBLIC_NAME:
        return [PUBLIC_ADDRESS]
    if host in PRIVATE_NAMES:
        return PRIVATE_NAMES[host]
    raise OSError(-2, f"Name or service not known: {host}")


async def _fetch_failure(url: str, serving: Serving) -> PipeRunError:
    with pytest.raises(PipeRunError) as caught:
        await fetch_url(
            url,
            input_name="photo",
            max_bytes=1024 * 1024,
            allow_private=False,
            timeout_seconds=10,
            resolver=injected_dns,
            transport=httpx.AsyncHTTPTransport(uds=serving.socket_path),
        )
    return caught.value


@pytest.mark.parametrize(
    ("location", "target_class"),
    [
        ("http://169.254.169.254/latest/meta-data/iam/", "link_local"),
        ("http://10.0.0.1/a.png", "private"),
        ("http://[::ffff:169.254.169.254]/", "link_local"),
        ("http://localhost/a.png", "loopback"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
        ("http://internal.example/a.png", "private"),
        ("http://metadata.example/latest/meta-data/", "link_local"),
        ("http://mixed.example/a.png", "private"),
        ("http://rebind.example/a.png", "loopback"),
        ("http://v6.example/a.png", "private"),
        (f"http://{PUBLIC_ADDRESS}@10.0.0.1/a.png", "userinfo"),
    ],
)
async def test_a_redirect_to_a_private_destination_is_refused_before_the_second_hop(
    serving: Serving, location: str, target_class: str
) -> None:
    error = await _fetch_failure(f"http://{PUBLIC_NAME}/go?to={location}", serving)
    assert (error.code, error.retryable) == ("security.input_url_refused", False)
    assert error.params == {"input": "photo", "reason": "host_not_allowed", "target_class": target_class}
    assert serving.listener.requests == [f"/go?to={location}"], "the private hop is never contacted"


@pytest.mark.parametrize("name", sorted(PRIVATE_NAMES))
async def test_a_name_that_resolves_to_a_private_address_is_refused_at_the_first_hop(
    serving: Serving, name: str
) -> None:
    error = await _fetch_failure(f"http://{name}/a.png", serving)
    assert (error.code, error.params["reason"]) == ("security.input_url_refused", "host_not_allowed")
    assert serving.listener.requests == []
