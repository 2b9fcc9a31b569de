"""`methodflow callbacks listen` as a developer runs it: the installed script on loopback, real signed
POSTs; it answers 200 to genuine events (duplicates too), 400/401 to the rest, and prints one line each."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from shared.callbacks.signing import signed_headers, webhook_id

METHODFLOW = Path(sys.executable).parent / "methodflow"
HOST = "127.0.0.1"
NEW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105 -- a test secret
OLD_SECRET = "cbsecret"  # noqa: S105 -- a test secret
START_SECONDS = 30
LINE_SECONDS = 10


@dataclass
class Listener:
    process: subprocess.Popen[bytes]
    log_path: Path
    port: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/hooks/run-done"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def lines_with(self, text: str, count: int = 1) -> list[str]:
        """The printed lines holding `text`, once there are `count` of them (they precede each answer)."""
        deadline = time.monotonic() + LINE_SECONDS
        while True:
            found = [line for line in self.log().splitlines() if text in line]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.02)

    def stop(self) -> int:
        """SIGTERM, as a user's Ctrl-C; SIGKILL if it does not go; the exit code either way."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _environment(**settings: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "COMPLETION_CALLBACK_SECRET"}
    return {**env, **settings}


def _start(log_path: Path, env: dict[str, str], *options: str) -> Listener:
    port = _free_port()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(METHODFLOW), "callbacks", "listen", "--port", str(port), *options],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    listener = Listener(process, log_path, port)
    deadline = time.monotonic() + START_SECONDS
    while f"listening on http://{HOST}:{port}/" not in listener.log():
        if process.poll() is not None or time.monotonic() > deadline:
            listener.stop()
            pytest.fail(f"the listener did not start (exit {process.returncode}):\n{listener.log()}")
        time.sleep(0.05)
    return listener


@pytest.fixture(scope="module")
def listener(tmp_path_factory: pytest.TempPathFactory) -> Generator[Listener]:
    """One listener for the module, holding both secrets of a rotation (from the environment)."""
    log_path = tmp_path_factory.mktemp("listener") / "listener.log"
    started = _start(log_path, _environment(COMPLETION_CALLBACK_SECRET=f"{NEW_SECRET},{OLD_SECRET}"))
    try:
        yield started
    finally:
        started.stop()


def _event(run_id: str, state: str = "COMPLETED") -> bytes:
    body = {"type": "run.finished", "pipeline_run_id": run_id, "state": state, "status": state}
    return json.dumps(body, separators=(",", ":")).encode()


def _post(listener: Listener, body: bytes, headers: dict[str, str]) -> httpx.Response:
    with httpx.Client(timeout=30) as client:
        return client.post(listener.url, content=body, headers=headers)


def _signed(listener: Listener, run_id: str, body: bytes, secrets: str = NEW_SECRET) -> dict[str, str]:
    return signed_headers(secrets, run_id, listener.url, int(time.time()), body, "methodflow-tests")


def test_a_signed_event_is_accepted_and_its_retry_is_a_duplicate(listener: Listener) -> None:
    run_id = f"run-{uuid.uuid4().hex[:12]}"
    body = _event(run_id)
    event_id = webhook_id(run_id, listener.url)

    first = _post(listener, body, _signed(listener, run_id, body))
    assert first.status_code == 200, first.text
    # A retry: same id and body, signed again (with both secrets of a rotation this time).
    retry = _post(listener, body, _signed(listener, run_id, body, f"{NEW_SECRET},{OLD_SECRET}"))
    assert retry.status_code == 200, retry.text

    lines = listener.lines_with(event_id, count=2)
    assert len(lines) == 2, listener.log()
    stamp, *rest = lines[0].split(" ")
    assert stamp.endswith("Z")
    assert stamp[:4].isdigit()
    assert rest == [event_id, run_id, "COMPLETED"]
    assert lines[1].split(" ")[1:] == [event_id, run_id, "COMPLETED", "duplicate"]


def test_an_event_signed_with_the_old_secret_only_is_accepted(listener: Listener) -> None:
    run_id = f"run-{uuid.uuid4().hex[:12]}"
    body = _event(run_id, "FAILED")
    answer = _post(listener, body, _signed(listener, run_id, body, OLD_SECRET))
    assert answer.status_code == 200, answer.text
    lines = listener.lines_with(webhook_id(run_id, listener.url))
    assert [line.split(" ")[1:] for line in lines] == [[webhook_id(run_id, listener.url), run_id, "FAILED"]]


def test_a_tampered_event_is_refused_and_not_remembered(listener: Listener) -> None:
    run_id = f"run-{uuid.uuid4().hex[:12]}"
    body = _event(run_id)
    event_id = webhook_id(run_id, listener.url)
    headers = _signed(listener, run_id, body)

    tampered = _post(listener, body.replace(b"COMPLETED", b"CANCELLED"), headers)
    assert tampered.status_code == 401
    assert "bad_signature" in tampered.text
    # The refused attempt did not mark the id as seen: the genuine event is new, not a duplicate.
    genuine = _post(listener, body, headers)
    assert genuine.status_code == 200, genuine.text

    lines = listener.lines_with(event_id, count=2)
    assert lines[0].split(" ")[1:4] == [event_id, "refused", "401"]
    assert "bad_signature" in lines[0]
    assert lines[1].split(" ")[1:] == [event_id, run_id, "COMPLETED"]


def test_a_wrong_secret_a_stale_timestamp_and_missing_headers_are_refused(listener: Listener) -> None:
    run_id = f"run-{uuid.uuid4().hex[:12]}"
    body = _event(run_id)
    event_id = webhook_id(run_id, listener.url)

    wrong = _post(listener, body, _signed(listener, run_id, body, "not-the-secret"))
    stale_headers = signed_headers(
        NEW_SECRET, run_id, listener.url, int(time.time()) - 3600, body, "methodflow-tests"
    )
    stale = _post(listener, body, stale_headers)
    bare = _post(listener, body, {"webhook-id": event_id, "Content-Type": "application/json"})

    assert (wrong.status_code, stale.status_code, bare.status_code) == (401, 401, 400)
    lines = listener.lines_with(event_id, count=3)
    reasons = [line.split(" ")[4].rstrip(":") for line in lines]
    assert reasons == ["bad_signature", "stale_timestamp", "missing_header"], listener.log()
    assert [line.split(" ")[3] for line in lines] == ["401", "401", "400"]


def test_the_secret_option_and_a_clean_stop_on_sigterm(tmp_path: Path) -> None:
    started = _start(tmp_path / "listener.log", _environment(), "--secret", OLD_SECRET)
    try:
        run_id = f"run-{uuid.uuid4().hex[:12]}"
        body = _event(run_id)
        answer = _post(started, body, _signed(started, run_id, body, OLD_SECRET))
        assert answer.status_code == 200, answer.text
        assert len(started.lines_with(webhook_id(run_id, started.url))) == 1
    finally:
        code = started.stop()
    assert code == 0, started.log()


def test_without_a_secret_the_listener_refuses_to_start() -> None:
    done = subprocess.run(
        [str(METHODFLOW), "callbacks", "listen", "--port", str(_free_port())],
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "COMPLETION_CALLBACK_SECRET" in done.stderr
