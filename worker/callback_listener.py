"""A development receiver for completion callbacks (`methodflow callbacks listen`): verifies each POST
with `verify_webhook` and prints one line per event, so deliveries can be watched without curl.

Stdlib `ThreadingHTTPServer`: the answer goes out as soon as the line is printed. Seen webhook ids are
kept in memory for the life of the process, which is enough to show duplicates during development.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from shared.callbacks.signing import ID_HEADER, RefusalReason, WebhookVerificationError, verify_webhook

MAX_BODY_BYTES = 8 * 1024 * 1024
# Refusals that say the request is malformed (400); the others say it is not ours or not now (401).
MALFORMED = frozenset({RefusalReason.MISSING_HEADER, RefusalReason.BAD_TIMESTAMP, RefusalReason.BAD_BODY})


class CallbackListener(ThreadingHTTPServer):
    """The server: the secrets to verify with, the ids already seen, and where lines are written."""

    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], secrets: str, write_line: Callable[[str], None], tolerance: int
    ) -> None:
        super().__init__(address, CallbackHandler)
        self.secrets = secrets
        self.tolerance = tolerance
        self.write_line = write_line
        self.seen: set[str] = set()
        self.lock = threading.Lock()

    def first_sight(self, event_id: str) -> bool:
        """True the first time `event_id` is remembered, False for every later delivery of it."""
        with self.lock:
            if event_id in self.seen:
                return False
            self.seen.add(event_id)
            return True


class CallbackHandler(BaseHTTPRequestHandler):
    server: CallbackListener  # pyright: ignore[reportIncompatibleVariableOverride] -- set by our server only
    protocol_version = "HTTP/1.1"
    # Headers and body go out as two small writes: without TCP_NODELAY each answer waits ~40 ms on
    # Nagle's algorithm and the client's delayed ACK.
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        body = self._body()
        if body is None:
            return
        headers = dict(self.headers.items())
        try:
            event = verify_webhook(self.server.secrets, headers, body, tolerance=self.server.tolerance)
        except WebhookVerificationError as exc:
            status = HTTPStatus.BAD_REQUEST if exc.reason in MALFORMED else HTTPStatus.UNAUTHORIZED
            event_id = (self.headers.get(ID_HEADER) or "-")[:80]
            self._print(f"{event_id} refused {status.value} {exc}")
            self._answer(status, f"refused: {exc.reason}\n")
            return
        event_id = self.headers.get(ID_HEADER, "")
        duplicate = not self.server.first_sight(event_id)
        self._print(" ".join([event_id, *_summary(event), *(["duplicate"] if duplicate else [])]))
        self._answer(HTTPStatus.OK, "duplicate\n" if duplicate else "ok\n")

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the stdlib's access log: the one line per event is ours."""

    def _body(self) -> bytes | None:
        """The raw body, or None after answering 400/413 when its length is missing or too large."""
        length_text = self.headers.get("Content-Length", "")
        if not length_text.isascii() or not length_text.isdigit():
            self._print(f"- refused {HTTPStatus.LENGTH_REQUIRED.value} no Content-Length")
            # Whatever body follows cannot be skipped reliably: close the connection after answering.
            self._answer(HTTPStatus.LENGTH_REQUIRED, "refused: Content-Length required\n", close=True)
            return None
        length = int(length_text)
        if length > MAX_BODY_BYTES:
            self._print(f"- refused {HTTPStatus.REQUEST_ENTITY_TOO_LARGE.value} body of {length} bytes")
            self._answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "refused: body too large\n", close=True)
            return None
        return self.rfile.read(length)

    def _answer(self, status: HTTPStatus, text: str, *, close: bool = False) -> None:
        payload = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(payload)

    def _print(self, text: str) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self.server.write_line(f"{stamp} {text}")


def _summary(event: dict[str, Any]) -> list[str]:
    return [str(event.get("pipeline_run_id", "-")), str(event.get("state", "-"))]


def serve(
    host: str, port: int, secrets: str, write_line: Callable[[str], None], tolerance: int = 300
) -> None:
    """Listen until interrupted; the first line written names the address actually bound."""
    with CallbackListener((host, port), secrets, write_line, tolerance) as listener:
        bound_host, bound_port = listener.server_address[:2]
        write_line(f"listening on http://{bound_host!s}:{bound_port}/ (callbacks verified, Ctrl-C stops)")
        listener.serve_forever()
