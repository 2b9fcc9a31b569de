"""The callbacks benchmark's receiver: verifies every event with `verify_webhook`, records when it arrived.

Its own process (`python -m bench.callback_receiver PORT`, secret in `BENCH_CALLBACK_SECRET`), so the
benchmark's client work never delays a receipt; the stdlib threading server with Nagle off. `probe`
measures what it sustains alone, so a run can show the receiver is not what limits the figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any, cast
from urllib.parse import parse_qs, urlsplit

import httpx

from shared.callbacks.signing import WebhookVerificationError, signed_headers, verify_webhook
from worker.dev_server import HOST

ROOT = Path(__file__).resolve().parents[1]
SECRET_ENV = "BENCH_CALLBACK_SECRET"  # noqa: S105 -- the variable's name, not a secret
PROBE_PATH = "/probe"
UP_SECONDS = 15
# The stdlib default backlog is 5: a burst of new connections would overflow it and wait for a SYN retry.
_BACKLOG = 256


class ReceiverError(RuntimeError):
    """The receiver process did not come up."""


class _Records:
    """Every verified event and every refusal, in arrival order (handler threads append under a lock)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[dict[str, Any]] = []
        self.failures: list[dict[str, Any]] = []

    def counts(self, path: str) -> dict[str, int]:
        with self.lock:
            ids = [event["webhook_id"] for event in self.events if event["path"] == path]
            failures = sum(1 for failure in self.failures if failure["path"] == path)
        return {"events": len(ids), "unique": len(set(ids)), "failures": failures}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = _BACKLOG

    def __init__(self, port: int, secret: str) -> None:
        super().__init__((HOST, port), _Handler)
        self.secret = secret
        self.records = _Records()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        began = time.perf_counter()
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        received_at = time.time()  # the event has fully arrived: the receipt time
        path = urlsplit(self.path).path
        server = _server_of(self)
        records = server.records
        try:
            event = verify_webhook(server.secret, dict(self.headers.items()), body)
        except WebhookVerificationError as exc:
            self._answer(401)
            with records.lock:
                records.failures.append({"path": path, "reason": str(exc.reason)})
            return
        self._answer(200)
        record = {
            "path": path,
            "webhook_id": self.headers["webhook-id"],
            "run_id": event.get("pipeline_run_id"),
            "state": event.get("state"),
            "finished_at": event.get("finished_at"),
            "received_at": received_at,
            "handled_ms": (time.perf_counter() - began) * 1000,
        }
        with records.lock:
            records.events.append(record)
        os.write(sys.stdout.fileno(), f"{record['run_id']}\n".encode())  # one write: lines never interleave

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        records = _server_of(self).records
        if parts.path == "/count":
            document: Any = records.counts(parse_qs(parts.query).get("path", [""])[0])
        elif parts.path == "/records":
            with records.lock:
                document = {"events": list(records.events), "failures": list(records.failures)}
        else:
            self._answer(404)
            return
        self._answer(200, json.dumps(document).encode())

    def _answer(self, status: int, body: bytes = b"") -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: one line per request would cost more than the request."""


def _server_of(handler: _Handler) -> _Server:
    return cast("_Server", handler.server)  # the only server that uses this handler


@dataclass
class Receiver:
    """The running receiver process and where it answers."""

    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def counts(self, path: str) -> dict[str, int]:
        return httpx.get(f"{self.url}/count", params={"path": path}, timeout=10).json()

    def records(self) -> dict[str, list[dict[str, Any]]]:
        return httpx.get(f"{self.url}/records", timeout=60).json()


@contextlib.contextmanager
def running_receiver(port: int, secret: str) -> Generator[Receiver]:
    process = subprocess.Popen(  # noqa: S603 -- our own interpreter, fixed argv
        [sys.executable, "-m", "bench.callback_receiver", str(port)],
        cwd=ROOT,
        env={**os.environ, SECRET_ENV: secret},
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    receiver = Receiver(port, process)
    try:
        deadline = time.monotonic() + UP_SECONDS
        while True:
            if process.poll() is not None:
                msg = f"the receiver exited with code {process.returncode}"
                raise ReceiverError(msg)
            with contextlib.suppress(httpx.HTTPError):
                receiver.counts(PROBE_PATH)
                break
            if time.monotonic() > deadline:
                msg = f"the receiver did not answer on port {port} within {UP_SECONDS} s"
                raise ReceiverError(msg)
            time.sleep(0.05)
        yield receiver
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Arrivals:
    """The run ids of verified events as the receiver reports them (a line each on its stdout), awaitable."""

    def __init__(self, receiver: Receiver, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.arrived: set[str] = set()
        self.waiters: dict[str, asyncio.Future[None]] = {}
        stream = receiver.process.stdout
        if stream is None:
            msg = "the receiver's stdout is not a pipe"
            raise ReceiverError(msg)
        threading.Thread(target=self._follow, args=(stream,), daemon=True).start()

    def _follow(self, stream: IO[bytes]) -> None:
        for line in stream:
            self.loop.call_soon_threadsafe(self._arrive, line.decode().strip())

    def _arrive(self, run_id: str) -> None:
        self.arrived.add(run_id)
        waiter = self.waiters.pop(run_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, run_id: str, timeout: float) -> bool:  # noqa: ASYNC109 -- a deadline per run, reported
        """Whether the event of `run_id` arrived within `timeout` seconds."""
        if run_id in self.arrived:
            return True
        waiter = self.waiters.setdefault(run_id, self.loop.create_future())
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except TimeoutError:
            return False
        return True


@dataclass(frozen=True)
class ProbeResult:
    count: int
    elapsed: float
    round_trips: list[float]


async def probe(receiver: Receiver, secret: str, count: int, concurrency: int) -> ProbeResult:
    """`count` signed events to `/probe` on `concurrency` lanes, a new connection each, as the worker sends
    them; raw asyncio streams, so the client's own cost stays far below the receiver's."""
    requests: list[bytes] = []
    for index in range(count):
        body = json.dumps({"type": "run.finished", "pipeline_run_id": f"probe-{index}"}).encode()
        headers = signed_headers(
            secret, f"probe-{index}", receiver.url + PROBE_PATH, int(time.time()), body, "bench"
        )
        head = f"POST {PROBE_PATH} HTTP/1.1\r\nHost: {HOST}:{receiver.port}\r\nConnection: close\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        requests.append(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
    pending = iter(requests)
    round_trips: list[float] = []

    async def lane() -> None:
        for request in pending:
            began = time.perf_counter()
            reader, writer = await asyncio.open_connection(HOST, receiver.port)
            writer.write(request)
            status = await reader.readline()
            writer.close()
            round_trips.append(time.perf_counter() - began)
            if b" 200 " not in status:
                msg = f"the receiver answered a probe with {status!r}"
                raise ReceiverError(msg)

    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return ProbeResult(count, time.perf_counter() - started, round_trips)


def main() -> None:
    server = _Server(int(sys.argv[1]), os.environ[SECRET_ENV])
    signal.signal(signal.SIGTERM, lambda _signum, _frame: threading.Thread(target=server.shutdown).start())
    server.serve_forever(poll_interval=0.5)
    server.server_close()


if __name__ == "__main__":
    main()
