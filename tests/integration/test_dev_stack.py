"""`methodflow dev` and `methodflow worker` as a user runs them: the installed script, real processes, loopback."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Generator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

METHODFLOW = Path(sys.executable).parent / "methodflow"
HOST = "127.0.0.1"
UI_PORT_OFFSET = 1000
START_SECONDS = 30
STOP_SECONDS = 30


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _free_temporal_port() -> int:
    """A free port whose UI neighbour (port + 1000) is free too."""
    for _ in range(50):
        port = _free_port()
        if port + UI_PORT_OFFSET < 65536 and not _accepts(port + UI_PORT_OFFSET):
            return port
    pytest.fail("no free port pair for Temporal and its UI")


def _environment(data_dir: Path, **overrides: str) -> dict[str, str]:
    """This environment without any Temporal or port setting of the machine running the tests."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TEMPORAL_")}
    env.pop("PORT", None)
    return {**env, "DATA_DIR": str(data_dir), **overrides}


def _health_ok(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/health", timeout=1) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _wait_for(what: str, ready: Callable[[], bool], process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while not ready():
        if process.poll() is not None:
            pytest.fail(f"methodflow dev exited ({process.returncode}) before {what}:\n{log.read_text()}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {START_SECONDS} s:\n{log.read_text()}")
        time.sleep(0.1)


def _process_identity(pid: int) -> tuple[str, str] | None:
    """(state, start time) of a process from /proc, or None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state, ppid, ..., starttime at 19
    return fields[0], fields[19]


def _children_of(parent: int) -> dict[int, str]:
    """Each child of `parent` with its start time (which tells a reused pid apart)."""
    children: dict[int, str] = {}
    if not Path("/proc").is_dir():
        return children  # no /proc here: nothing to check, nor to clean up
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == parent:
            children[int(entry.name)] = fields[19]
    return children


def _running(children: dict[int, str]) -> list[int]:
    """The children still running: an unreaped zombie (nobody may reap orphans here) has ended."""
    still: list[int] = []
    for pid, started in children.items():
        identity = _process_identity(pid)
        if identity is not None and identity[0] != "Z" and identity[1] == started:
            still.append(pid)
    return still


def _kill_leftovers(children: dict[int, str]) -> None:
    """Never leave a stack behind a failed test: the children still running are killed."""
    for pid in _running(children):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize(
    ("signum", "to_group"),
    [(signal.SIGINT, False), (signal.SIGINT, True), (signal.SIGHUP, True)],
    ids=["sigint", "terminal-ctrl-c", "terminal-closed"],
)
def test_dev_starts_temporal_worker_and_api_and_stops_them_all_on_a_signal(
    tmp_path: Path, signum: signal.Signals, to_group: bool
) -> None:
    api_port, temporal_port = _free_port(), _free_temporal_port()
    ui_port = temporal_port + UI_PORT_OFFSET
    data_dir = tmp_path / "data"
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    args = [str(METHODFLOW), "dev", "--port", str(api_port), "--temporal-port", str(temporal_port)]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        # A terminal's Ctrl-C (SIGINT) or closing (SIGHUP) signals its whole foreground process group.
        process = subprocess.Popen(
            args, stdout=stdout, stderr=stderr, env=_environment(data_dir), start_new_session=to_group
        )
    children: dict[int, str] = {}
    try:
        _wait_for("GET /health 200", lambda: _health_ok(api_port), process, err)
        children = _children_of(process.pid)
        _wait_for("URLs on stdout", lambda: "Press Ctrl-C" in out.read_text(), process, err)
        printed = out.read_text()
        assert f"API          http://{HOST}:{api_port}\n" in printed
        assert f"API docs     http://{HOST}:{api_port}/docs\n" in printed
        assert f"Temporal UI  http://{HOST}:{ui_port}\n" in printed
        assert f"Temporal     {HOST}:{temporal_port}\n" in printed
        assert _accepts(temporal_port)
        assert (data_dir / "temporal.db").exists()
        assert (data_dir / "temporal.log").exists()
        # The banner waits for the worker's first poll: a run started now starts at once.
        with urllib.request.urlopen(f"http://{HOST}:{api_port}/ready", timeout=5) as answer:
            assert json.loads(answer.read())["unpolled_task_queues"] == []
        # A second stack on the same data dir would share the Temporal database: refused at once.
        second = subprocess.run(
            [
                str(METHODFLOW),
                "dev",
                "--port",
                str(_free_port()),
                "--temporal-port",
                str(_free_temporal_port()),
            ],
            env=_environment(data_dir),
            capture_output=True,
            timeout=START_SECONDS,
            check=False,
        )
        assert second.returncode == 1
        assert f"another methodflow dev already runs on the data dir {data_dir}" in second.stderr.decode()

        if to_group:
            os.killpg(process.pid, signum)
        else:
            process.send_signal(signum)
        assert process.wait(STOP_SECONDS) == 0, err.read_text()
        assert "Traceback" not in err.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        _kill_leftovers(children)
    # Every child has been waited for: nothing listens any more.
    assert [port for port in (api_port, temporal_port, ui_port) if _accepts(port)] == []
    assert "methodflow dev stopped" in out.read_text()


class _ForeignHandler(BaseHTTPRequestHandler):
    """Another program's server: 200 to any GET, as a foreign API would answer GET /health."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:  # noqa: ARG002 -- the stdlib's signature; quiet
        return


@contextlib.contextmanager
def _foreign_server(port: int) -> Generator[None]:
    server = ThreadingHTTPServer((HOST, port), _ForeignHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


# How each port is chosen: its option and its variable (the variables are what `make run` passes on).
_PORT_NAMES = {
    "api": ("--port", "PORT"),
    "temporal": ("--temporal-port", "TEMPORAL_DEV_PORT"),
    "temporal-ui": ("--temporal-ui-port", "TEMPORAL_DEV_UI_PORT"),
}


@pytest.mark.parametrize(
    ("taken", "given"),
    [
        ("api", "option"),
        ("api", "variable"),
        ("temporal", "option"),
        ("temporal", "variable"),
        ("temporal-ui", "option"),
        ("temporal-ui", "variable"),
        ("temporal-ui", "derived"),  # not given: the Temporal port + 1000
    ],
)
def test_dev_refuses_a_taken_port_naming_it_and_how_to_choose_another(
    tmp_path: Path, taken: str, given: str
) -> None:
    ports = {"api": _free_port(), "temporal": _free_temporal_port()}
    ports["temporal-ui"] = ports["temporal"] + UI_PORT_OFFSET if given == "derived" else _free_port()
    args, variables = [str(METHODFLOW), "dev"], dict[str, str]()
    for name, port in ports.items():
        option, variable = _PORT_NAMES[name]
        if name == taken and given == "variable":
            variables[variable] = str(port)
        elif not (name == taken and given == "derived"):
            args += [option, str(port)]
    taken_port = ports[taken]
    option, variable = _PORT_NAMES[taken]
    with _foreign_server(taken_port):
        # The timeout only bounds a hang of the code under test; a refusal comes before anything starts.
        finished = subprocess.run(
            args,
            env=_environment(tmp_path, **variables),
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
    assert finished.returncode == 1, finished.stderr
    assert f"port {taken_port} " in finished.stderr
    assert option in finished.stderr
    assert variable in finished.stderr
    assert "is up" not in finished.stdout
    assert "Traceback" not in finished.stderr
    assert not (tmp_path / "temporal.log").exists()  # nothing was started


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads processes from /proc")
def test_dev_killed_hard_takes_its_temporal_worker_and_api_with_it(tmp_path: Path) -> None:
    api_port, temporal_port = _free_port(), _free_temporal_port()
    ui_port = temporal_port + UI_PORT_OFFSET
    err = tmp_path / "stderr.txt"
    args = [str(METHODFLOW), "dev", "--port", str(api_port), "--temporal-port", str(temporal_port)]
    with err.open("wb") as stderr:
        process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=stderr, env=_environment(tmp_path / "data")
        )
    children: dict[int, str] = {}
    try:
        _wait_for("GET /health 200", lambda: _health_ok(api_port), process, err)
        children = _children_of(process.pid)
        assert len(children) == 3, children  # the Temporal dev server, the worker and the API
        process.kill()
        process.wait()
        # Generous: the children stop gracefully (the worker drains); only their ending is asserted.
        deadline = time.monotonic() + 60
        while _running(children) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _running(children) == [], err.read_text()
        assert [port for port in (api_port, temporal_port, ui_port) if _accepts(port)] == []
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        _kill_leftovers(children)


@pytest.mark.parametrize(
    "command",
    [[str(METHODFLOW), "worker"], [sys.executable, "-m", "worker"]],
    ids=["methodflow-worker", "python-m-worker"],
)
def test_worker_without_a_reachable_temporal_exits_with_a_message(tmp_path: Path, command: list[str]) -> None:
    address = f"{HOST}:{_free_port()}"  # just released: nothing listens there
    finished = subprocess.run(
        command,
        env=_environment(tmp_path, TEMPORAL_ADDRESS=address),
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert finished.returncode == 1
    assert f"error: the worker stopped (Temporal at {address}): Failed client connect" in finished.stderr
    assert "Traceback" not in finished.stderr
