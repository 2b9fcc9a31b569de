"""Fault injection on completion callbacks (issue 18, "Hardening"): receivers that read the event at a
few bytes a second and never answer, that answer their headers one byte at a time, that answer an
enormous body, or that present a self-signed TLS certificate. Each is a raw TCP (or TLS) server on
loopback, so the fault is exactly the one named, with nothing in between.

Every attempt must end within the attempt timeout, be logged with a clear error and be retried; an
enormous answer is never read whole; a certificate nobody vouches for is never accepted; and the
worker meanwhile still runs other runs.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import tempfile
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from api.auth import SINGLE_TENANT
from shared.callbacks.signing import webhook_id
from shared.runs.names import run_workflow_id
from tests.helpers.run_stack import run_stack
from tests.integration.test_callbacks import API, deliveries, eventually, start
from tests.integration.test_runs import greet_body

HOST = "127.0.0.1"
ATTEMPT_TIMEOUT = 1.0
WORKER = {
    "completion_callback_secret": API["completion_callback_secret"],
    "allow_private_callback_urls": True,
    "callback_initial_interval_seconds": 0.2,
    "callback_max_interval_seconds": 0.5,
    "callback_attempt_timeout_seconds": ATTEMPT_TIMEOUT,
}
ENORMOUS_BYTES = 100 * 1024 * 1024
CHUNK = 64 * 1024
# What may sit in loopback socket buffers and the sender's read ahead: far below the enormous body.
READ_AHEAD_BOUND = 16 * 1024 * 1024

Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "RawReceiver"], Awaitable[None]]


@dataclass
class RawReceiver:
    """A loopback server whose every connection runs `behaviour`; counts what it saw and sent."""

    behaviour: Behaviour
    tls: ssl.SSLContext | None = None
    port: int = 0
    connections: int = 0  # over TLS, those whose handshake succeeded
    requests_read: int = 0  # connections whose request line and headers arrived whole
    body_bytes_sent: int = 0
    writers: set[asyncio.StreamWriter] = field(default_factory=set[asyncio.StreamWriter])

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{HOST}:{self.port}/hooks/run-done"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.add(writer)
        try:
            await self.behaviour(reader, writer, self)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass  # the sender gave up on us: what these receivers are for
        finally:
            self.writers.discard(writer)
            writer.close()


@asynccontextmanager
async def listening(receiver: RawReceiver) -> AsyncGenerator[RawReceiver]:
    server = await asyncio.start_server(receiver.handle, HOST, 0, ssl=receiver.tls)
    receiver.port = server.sockets[0].getsockname()[1]
    try:
        yield receiver
    finally:
        server.close()
        # Closing the connections ends every behaviour at its next read or write (cancelling the
        # handlers instead makes asyncio log each one as an error).
        for writer in list(receiver.writers):
            writer.close()
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader, receiver: RawReceiver) -> None:
    """The request line, headers and body (by Content-Length), at full speed."""
    head = await reader.readuntil(b"\r\n\r\n")
    receiver.requests_read += 1
    length = next(
        (
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    await reader.readexactly(length)


async def reads_slowly_never_answers(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, receiver: RawReceiver
) -> None:
    del writer, receiver
    while await reader.read(8):  # noqa: ASYNC110 -- the pause is the fault: 8 bytes every 0.2 s
        await asyncio.sleep(0.2)


async def answers_headers_byte_by_byte(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, receiver: RawReceiver
) -> None:
    """Each byte comes well within a read timeout, the headers never end: only a deadline stops it."""
    await read_request(reader, receiver)
    for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"x" * 10_000:
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(0.1)


async def answers_an_enormous_body(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, receiver: RawReceiver
) -> None:
    await read_request(reader, receiver)
    writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {ENORMOUS_BYTES}\r\n\r\n".encode())
    chunk = b"\0" * CHUNK
    for _ in range(ENORMOUS_BYTES // CHUNK):
        writer.write(chunk)
        await writer.drain()
        receiver.body_bytes_sent += CHUNK


async def answers_ok(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, receiver: RawReceiver
) -> None:
    await read_request(reader, receiver)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    await writer.drain()


def self_signed_tls() -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate for 127.0.0.1: right name, no trust."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    # `load_cert_chain` reads files only.
    with tempfile.TemporaryDirectory() as folder:
        cert_path, key_path = Path(folder) / "cert.pem", Path(folder) / "key.pem"
        cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context.load_cert_chain(cert_path, key_path)
    return context


async def test_slow_enormous_and_untrusted_receivers_are_bounded_logged_and_retried(
    temporal_address: str, tmp_path: Path
) -> None:
    async with (
        listening(RawReceiver(reads_slowly_never_answers)) as slow_reader,
        listening(RawReceiver(answers_headers_byte_by_byte)) as slow_answer,
        listening(RawReceiver(answers_an_enormous_body)) as enormous,
        listening(RawReceiver(answers_ok, tls=self_signed_tls())) as untrusted,
        run_stack(temporal_address, tmp_path, api_overrides=API, worker_overrides=WORKER) as stack,
    ):
        receivers = {
            "slow_reader": slow_reader,
            "slow_answer": slow_answer,
            "enormous": enormous,
            "untrusted": untrusted,
        }
        await start(stack, "run-fault-cb", [receiver.url for receiver in receivers.values()])
        ids = {
            name: webhook_id(run_workflow_id(SINGLE_TENANT, "run-fault-cb"), receiver.url)
            for name, receiver in receivers.items()
        }
        retried = ("slow_reader", "slow_answer", "untrusted")

        async def settled() -> dict[str, dict[str, Any]] | None:
            items = await deliveries(stack, "run-fault-cb")
            if any(ids[name] not in items for name in receivers):
                return None
            enough = all(len(items[ids[name]]["attempts"]) >= 2 for name in retried)
            return items if enough and items[ids["enormous"]]["state"] == "delivered" else None

        items = await eventually(settled, within=30, what="two attempts each, and the enormous one delivered")
        for name in ("slow_reader", "slow_answer"):
            item = items[ids[name]]
            assert item["state"] == "delivering", (name, item)
            assert {attempt["error"] for attempt in item["attempts"]} == {"timeout"}, (name, item)
            assert {attempt["outcome"] for attempt in item["attempts"]} == {"retry"}
            assert item["next_attempt_at"] is not None
        tls = items[ids["untrusted"]]
        assert {attempt["error"] for attempt in tls["attempts"]} == {"tls_error"}, tls
        # asyncio hands a connection over only once its handshake succeeded: none ever did.
        assert untrusted.connections == 0, "no event may travel over an unverified connection"
        big = items[ids["enormous"]]
        assert [attempt["status_code"] for attempt in big["attempts"]] == [200]
        assert enormous.body_bytes_sent < READ_AHEAD_BOUND, "the answer's body was read, not just its status"

        # Meanwhile the worker still runs runs: none of these receivers holds it.
        answer = await stack.client.post("/v1/execute", json=greet_body(pipeline_run_id="run-fault-cb-next"))
        assert answer.status_code == 200, answer.text
        assert answer.json()["state"] == "COMPLETED"
        record = (await stack.client.get("/v1/runs/run-fault-cb")).json()
        assert record["state"] == "COMPLETED", "a delivery never changes the run's state"
