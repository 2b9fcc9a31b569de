"""The worker's http(s) input fetch (http-api.md §4.3, §10.5) against a real file server on loopback.

The server speaks plain HTTP/1.1 over TCP on 127.0.0.1 and over a Unix socket: the socket is how a
"public" name (an injected resolver answering a public address) still reaches it, through an httpx
transport bound to the socket. Nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import io
import shutil
import tempfile
import zlib
from collections.abc import AsyncGenerator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from pypdf import PdfWriter

from shared.runtime.run_failure import PipeRunError
from shared.storage.blob_store import LocalBlobStore
from worker.dev_server import free_port
from worker.files.input_files import InputFiles
from worker.files.url_fetch import MAX_REDIRECTS, fetch_url

MIB = 1024 * 1024
HUGE = 2 * 1024 * MIB
CHUNK = 64 * 1024
PUBLIC_NAME = "files.example"
PUBLIC_ADDRESS = "93.184.216.34"


def png_bytes() -> bytes:
    """A real 1x1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = (1).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def pdf_bytes() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


PNG = png_bytes()
PDF = pdf_bytes()


@dataclass
class FileServer:
    """Answers by path; records each request's path and Host header and the bytes of endless bodies sent."""

    port: int = 0
    requests: list[tuple[str, str]] = field(default_factory=list[tuple[str, str]])
    streamed: dict[str, int] = field(default_factory=dict[str, int])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            path = head[0].split(" ")[1]
            host = next(
                (line.split(":", 1)[1].strip() for line in head if line.lower().startswith("host:")), ""
            )
            self.requests.append((path, host))
            await self.answer(path, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client hung up, as a fetch over its limit does
        finally:
            writer.close()

    async def answer(self, path: str, writer: asyncio.StreamWriter) -> None:
        if path in ("/a.png", "/doc.pdf"):
            body, kind = (PNG, "image/png") if path == "/a.png" else (PDF, "application/pdf; qs=0.9")
            writer.write(head(200, {"Content-Type": kind, "Content-Length": str(len(body))}) + body)
        elif path.startswith("/redirect-to/"):
            writer.write(head(302, {"Location": path.removeprefix("/redirect-to"), "Content-Length": "0"}))
        elif path == "/redirect-loopback":
            writer.write(head(307, {"Location": self.url("/a.png"), "Content-Length": "0"}))
        elif path == "/redirect-ftp":
            writer.write(head(308, {"Location": "ftp://files.example/a.png", "Content-Length": "0"}))
        elif path == "/cut":
            writer.write(head(200, {"Content-Type": "image/png", "Content-Length": "1000"}) + PNG[:10])
        elif path == "/loop":
            writer.write(head(301, {"Location": "/loop", "Content-Length": "0"}))
        elif path in ("/endless", "/huge-length"):
            fields = {"Content-Type": "application/pdf"}
            if path == "/huge-length":
                fields["Content-Length"] = str(HUGE)
            writer.write(head(200, fields))
            await self.stream(path, writer)
        elif path == "/stalled":
            writer.write(head(200, {"Content-Type": "image/png"}))
            await writer.drain()
            await asyncio.Event().wait()
        else:
            status = 500 if path == "/broken" else 404
            writer.write(head(status, {"Content-Length": "0"}))
        await writer.drain()

    async def stream(self, path: str, writer: asyncio.StreamWriter) -> None:
        """Up to 2 GB, generated lazily, until the client hangs up."""
        chunk = b"%PDF-" + b"x" * (CHUNK - 5)
        self.streamed[path] = 0
        while self.streamed[path] < HUGE:
            writer.write(chunk)
            await writer.drain()
            self.streamed[path] += len(chunk)


def head(status: int, fields: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} X", "Connection: close", *(f"{k}: {v}" for k, v in fields.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass
class Serving:
    server: FileServer
    socket_path: str


@asynccontextmanager
async def serving() -> AsyncGenerator[Serving]:
    server = FileServer()
    tcp = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.port = tcp.sockets[0].getsockname()[1]
    directory = tempfile.mkdtemp(prefix="fetch-")  # short: a socket path has ~100 characters at most
    socket_path = str(Path(directory) / "s")
    unix = await asyncio.start_unix_server(server.handle, socket_path)
    try:
        async with tcp, unix:
            yield Serving(server, socket_path)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
async def files() -> AsyncGenerator[Serving]:
    async with serving() as running:
        yield running


async def public_dns(host: str) -> Sequence[str]:
    """`files.example` is a public address; anything else does not resolve."""
    if host == PUBLIC_NAME:
        return [PUBLIC_ADDRESS]
    raise OSError(-2, f"Name or service not known: {host}")


async def fetch(
    url: str, *, max_bytes: int = MIB, allow_private: bool = True, seconds: float = 20
) -> tuple[bytes, str | None]:
    return await fetch_url(
        url, input_name="doc", max_bytes=max_bytes, allow_private=allow_private, timeout_seconds=seconds
    )


async def failure(
    url: str, *, max_bytes: int = MIB, allow_private: bool = True, seconds: float = 20
) -> PipeRunError:
    with pytest.raises(PipeRunError) as caught:
        await fetch(url, max_bytes=max_bytes, allow_private=allow_private, seconds=seconds)
    return caught.value


async def test_a_png_and_a_pdf_arrive_whole_with_their_type(files: Serving) -> None:
    assert await fetch(files.server.url("/a.png")) == (PNG, "image/png")
    assert await fetch(files.server.url("/doc.pdf")) == (PDF, "application/pdf")
    assert files.server.requests == [
        ("/a.png", f"127.0.0.1:{files.server.port}"),
        ("/doc.pdf", f"127.0.0.1:{files.server.port}"),
    ]


async def test_redirects_are_followed_hop_by_hop(files: Serving) -> None:
    assert await fetch(files.server.url("/redirect-to/a.png")) == (PNG, "image/png")
    assert [path for path, _ in files.server.requests] == ["/redirect-to/a.png", "/a.png"]


async def test_more_than_five_redirects_stop_the_fetch(files: Serving) -> None:
    error = await failure(files.server.url("/loop"))
    assert (error.code, error.retryable, error.params["reason"]) == (
        "input.url_unreachable",
        False,
        "too_many_redirects",
    )
    assert len(files.server.requests) == MAX_REDIRECTS + 1


async def test_an_endless_body_stops_at_the_limit(files: Serving) -> None:
    error = await failure(files.server.url("/endless"), max_bytes=MIB)
    assert (error.code, error.retryable) == ("input.too_large", False)
    assert error.params == {"input": "doc", "limit": MIB}
    # The server was stopped long before its 2 GB: the fetch hung up, it did not read on.
    assert files.server.streamed["/endless"] < 64 * MIB


async def test_a_huge_content_length_is_refused_before_reading(files: Serving) -> None:
    error = await failure(files.server.url("/huge-length"), max_bytes=MIB)
    assert (error.code, error.retryable) == ("input.too_large", False)
    assert error.params == {"input": "doc", "limit": MIB, "size": HUGE}
    assert files.server.streamed.get("/huge-length", 0) < 64 * MIB


@pytest.mark.parametrize(("path", "status", "retryable"), [("/missing", 404, False), ("/broken", 500, True)])
async def test_error_statuses_are_unreachable_retryable_only_for_5xx(
    files: Serving, path: str, status: int, retryable: bool
) -> None:
    url = files.server.url(path)
    error = await failure(url)
    assert (error.code, error.retryable) == ("input.url_unreachable", retryable)
    assert error.params == {"input": "doc", "url": url, "status": status}


async def test_a_closed_port_is_unreachable_and_retryable() -> None:
    url = f"http://127.0.0.1:{free_port()}/a.png"
    error = await failure(url)
    assert (error.code, error.retryable) == ("input.url_unreachable", True)
    assert error.params == {"input": "doc", "url": url, "reason": "connect_error"}


async def test_a_body_cut_short_is_unreachable_and_retryable(files: Serving) -> None:
    error = await failure(files.server.url("/cut"))
    assert (error.code, error.retryable, error.params["reason"]) == (
        "input.url_unreachable",
        True,
        "transfer_error",
    )


async def test_a_redirect_to_another_scheme_is_refused(files: Serving) -> None:
    error = await failure(files.server.url("/redirect-ftp"))
    assert (error.code, error.retryable) == ("security.input_url_refused", False)
    assert error.params == {"input": "doc", "reason": "scheme_not_allowed", "target_class": "scheme"}


async def test_a_stalled_answer_times_out_retryable(files: Serving) -> None:
    error = await failure(files.server.url("/stalled"), seconds=0.5)
    assert (error.code, error.retryable, error.params["reason"]) == ("input.url_unreachable", True, "timeout")


async def test_a_name_that_does_not_resolve_is_unreachable_and_retryable() -> None:
    with pytest.raises(PipeRunError) as caught:
        await fetch_url(
            "https://nowhere.example/a.png",
            input_name="doc",
            max_bytes=MIB,
            allow_private=False,
            timeout_seconds=20,
            resolver=public_dns,
        )
    assert (caught.value.code, caught.value.retryable) == ("input.url_unreachable", True)
    assert caught.value.params["reason"] == "unresolvable"


async def test_a_loopback_url_is_refused_unless_private_urls_are_allowed(files: Serving) -> None:
    error = await failure(files.server.url("/a.png"), allow_private=False)
    assert (error.code, error.retryable) == ("security.input_url_refused", False)
    assert error.params == {"input": "doc", "reason": "host_not_allowed", "target_class": "loopback"}
    assert files.server.requests == [], "a refused URL is never contacted"


async def test_a_public_name_reaches_the_checked_address_under_its_own_name(files: Serving) -> None:
    transport = httpx.AsyncHTTPTransport(uds=files.socket_path)
    answer = await fetch_url(
        f"http://{PUBLIC_NAME}/redirect-to/doc.pdf",
        input_name="doc",
        max_bytes=MIB,
        allow_private=False,
        timeout_seconds=20,
        resolver=public_dns,
        transport=transport,
    )
    assert answer == (PDF, "application/pdf")
    assert files.server.requests == [("/redirect-to/doc.pdf", PUBLIC_NAME), ("/doc.pdf", PUBLIC_NAME)]


async def test_a_redirect_to_a_private_address_is_refused_at_the_second_hop(files: Serving) -> None:
    transport = httpx.AsyncHTTPTransport(uds=files.socket_path)
    with pytest.raises(PipeRunError) as caught:
        await fetch_url(
            f"http://{PUBLIC_NAME}/redirect-loopback",
            input_name="photo",
            max_bytes=MIB,
            allow_private=False,
            timeout_seconds=20,
            resolver=public_dns,
            transport=transport,
        )
    error = caught.value
    assert (error.code, error.retryable) == ("security.input_url_refused", False)
    assert error.params == {"input": "photo", "reason": "host_not_allowed", "target_class": "loopback"}
    assert files.server.requests == [("/redirect-loopback", PUBLIC_NAME)], (
        "the private hop is never contacted"
    )


async def test_input_files_read_an_http_url_and_sniff_its_type(files: Serving, tmp_path: Path) -> None:
    reader = InputFiles(LocalBlobStore(tmp_path), max_bytes=MIB, allow_private_urls=True)
    read = await reader.read(files.server.url("/a.png"), input_name="photo", declared_mime_type="image/jpeg")
    assert (read.data, read.mime_type) == (PNG, "image/png")
    refused = InputFiles(LocalBlobStore(tmp_path), max_bytes=MIB)
    with pytest.raises(PipeRunError) as caught:
        await refused.read(files.server.url("/a.png"), input_name="photo")
    assert caught.value.params["target_class"] == "loopback"
