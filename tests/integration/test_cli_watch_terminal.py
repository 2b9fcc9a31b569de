"""`methodflow watch` in a real terminal: tmux runs it against a run stack on a 200-item batch, and
`capture-pane` reads the screen while it runs (the batch bar's count advances) and once it has ended
(the view's last frame and the command's final line say COMPLETED, every item done, exit code 0).
Also `watch_run` itself off a terminal: one line per state, its deadline, an unknown run's typed error.
"""

from __future__ import annotations

import asyncio
import io
import re
import shlex
import shutil
import sys
import uuid
from pathlib import Path

import pytest
from rich.console import Console

from client import InputProblem, MethodflowClient, WaitTimeout
from tests.helpers.function_bundles import batch_bundle, chain_bundle
from tests.helpers.run_functions import SLOW
from tests.helpers.run_stack import run_stack
from worker.run_watch import watch_run

FOUND_TMUX = shutil.which("tmux")
TMUX = FOUND_TMUX or "/usr/bin/tmux"
ITEMS = 200
# 200 items of 0.4 s on the worker's 16 activity slots: about 5 s of batch, long enough to be read.
SLOW_SECONDS = "0.4"
DONE = re.compile(rf"(\d+)/{ITEMS}\b")
ENDED = "watch exited with"
METHODFLOW = Path(sys.executable).with_name("methodflow")


def _watch_command(run_id: str, server: str, *variables: str) -> str:
    """The shell line tmux runs: the watch, then its exit code, then a pause that keeps the pane readable."""
    # COLUMNS/LINES may reach the pane from outside and would pin rich's width: the pane's size rules.
    unset = ["-u", "COLUMNS", "-u", "LINES", "-u", "NO_COLOR"]
    watch = shlex.join(["env", *unset, *variables, str(METHODFLOW), "watch", run_id, "--server", server])
    return f'{watch}; echo "{ENDED} $?"; sleep 120'


async def _tmux(socket: str, *arguments: str, check: bool = True) -> str:
    process = await asyncio.create_subprocess_exec(
        TMUX, "-L", socket, "-f", "/dev/null", *arguments, stdout=asyncio.subprocess.PIPE
    )
    output, _ = await process.communicate()
    assert process.returncode == 0 or not check, (arguments, output)
    return output.decode()


async def _screens_until_the_end(socket: str, within: float, *, escapes: bool = False) -> list[str]:
    """The pane's text read every 0.2 s until the watch has exited (or `within` seconds have passed);
    with `escapes`, with the colours and attributes as escape sequences (`capture-pane -e`)."""
    screens: list[str] = []
    deadline = asyncio.get_running_loop().time() + within
    capture = ["capture-pane", "-p", "-t", "watch", *(["-e"] if escapes else [])]
    while asyncio.get_running_loop().time() < deadline:
        screens.append(await _tmux(socket, *capture))
        if ENDED in screens[-1]:
            break
        await asyncio.sleep(0.2)
    return screens


@pytest.mark.timeout(90)
async def test_watch_draws_the_batch_bar_advancing_then_the_completed_run(
    temporal_address: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert FOUND_TMUX is not None, "tmux is needed (make test installs it)"
    monkeypatch.setenv("SLOW_SECONDS", SLOW_SECONDS)
    run_id = f"watch-terminal-{uuid.uuid4()}"
    socket = f"methodflow-watch-{uuid.uuid4().hex[:12]}"
    # Chunks of 20 items: the batch's counters move a chunk at a time, so the bar has steps to show.
    async with run_stack(temporal_address, tmp_path, worker_overrides={"batch_chunk_items": 20}) as stack:
        body = {
            "mthds_contents": [batch_bundle(SLOW, "echoes")],
            "inputs": {"items": [f"item-{index}" for index in range(ITEMS)]},
            "pipeline_run_id": run_id,
        }
        started = await stack.client.post("/v1/start", json=body)
        assert started.status_code == 202, started.text
        try:
            await _tmux(
                socket, "new-session", "-d", "-s", "watch", "-x", "120", "-y", "40",
                _watch_command(run_id, stack.base_url),
            )  # fmt: skip
            screens = await _screens_until_the_end(socket, within=60)
        finally:
            await _tmux(socket, "kill-server", check=False)  # no server left when new-session failed
        final_state = (await stack.client.get(f"/v1/runs/{run_id}/status")).json()["state"]

    last = screens[-1]
    assert f"{ENDED} 0" in last, last
    assert final_state == "COMPLETED"
    assert re.search(r"Run \S+\s+COMPLETED", last), last  # the live view's last frame
    assert f"{run_id} COMPLETED" in last, last  # the command's own final line (stderr)
    # Then the result (stdout): on a terminal, the start of the 200 items and how to read them all.
    assert '{"items": [{"text": "item-0+"}' in last, last
    assert f"methodflow results {run_id} prints them all" in last, last
    assert re.search(r"Run \S+\s+COMPLETED", last), last  # the result left the last frame on the screen
    assert f"{ITEMS}/{ITEMS}" in last, last
    # The bar advanced while the batch ran: at least two different counts short of the total were drawn.
    running_counts = {
        int(found) for screen in screens for found in DONE.findall(screen) if int(found) < ITEMS
    }
    assert len(running_counts) >= 2, running_counts
    assert any(re.search(r"items/s\s+ETA \d", screen) for screen in screens), last


# A colour as SGR parameters: 30 to 37 or 90 to 97 (16 colours), 38;5;n (256) or 38;2;r;g;b (true colour).
COLOUR = re.compile(r"\x1b\[[0-9;]*(?<![0-9])(3[0-7]|9[0-7]|38;[25];[0-9;]+)m")


async def test_watch_is_coloured_on_a_terminal_and_not_with_no_color(
    temporal_address: str, tmp_path: Path
) -> None:
    assert FOUND_TMUX is not None, "tmux is needed (make test installs it)"
    async with run_stack(temporal_address, tmp_path) as stack:
        body = {"mthds_contents": [chain_bundle(SLOW, 1, "echoes")], "inputs": {"name": "Ada"}}
        run_id = (await stack.client.post("/v1/execute", json=body)).json()["pipeline_run_id"]
        last_screens: dict[bool, str] = {}
        for no_color in (False, True):
            socket = f"methodflow-colour-{uuid.uuid4().hex[:12]}"
            command = _watch_command(run_id, stack.base_url, *(["NO_COLOR=1"] if no_color else []))
            try:
                await _tmux(
                    socket, "new-session", "-d", "-s", "watch", "-x", "120", "-y", "20", "-e", "TERM=xterm-256color",
                    command,
                )  # fmt: skip
                last_screens[no_color] = (await _screens_until_the_end(socket, within=20, escapes=True))[-1]
            finally:
                await _tmux(socket, "kill-server", check=False)
    for no_color, screen in last_screens.items():
        assert f"{ENDED} 0" in screen, screen
        assert "COMPLETED" in screen, screen
        assert bool(COLOUR.search(screen)) is not no_color, repr(screen)


def _plain_console() -> tuple[Console, io.StringIO]:
    written = io.StringIO()
    return Console(file=written, force_terminal=False, width=100), written


async def test_watch_run_off_a_terminal_prints_one_line_per_state_keeps_its_deadline_and_raises_typed_errors(
    temporal_address: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLOW_SECONDS", "0.6")
    run_id = f"watch-plain-{uuid.uuid4()}"
    async with run_stack(temporal_address, tmp_path) as stack:
        body = {
            "mthds_contents": [chain_bundle(SLOW, 3, "echoes")],
            "inputs": {"name": "Ada"},
            "pipeline_run_id": run_id,
        }
        started = await stack.client.post("/v1/start", json=body)
        assert started.status_code == 202, started.text
        with MethodflowClient(stack.base_url) as methodflow:
            console, written = _plain_console()
            with pytest.raises(WaitTimeout) as timed_out:
                await asyncio.to_thread(watch_run, methodflow, run_id, console=console, within=0.2)
            assert timed_out.value.pipeline_run_id == run_id

            console, written = _plain_console()
            final = await asyncio.to_thread(watch_run, methodflow, run_id, console=console)

            terminal_console = Console(file=io.StringIO(), force_terminal=True, width=100)
            for quiet in (False, True):
                with pytest.raises(InputProblem) as unknown:
                    await asyncio.to_thread(
                        watch_run,
                        methodflow,
                        "no-such-run",
                        console=_plain_console()[0] if quiet else terminal_console,
                    )
                assert (unknown.value.status, unknown.value.code) == (404, "run.not_found")

    assert final.state == "COMPLETED"
    lines = written.getvalue().splitlines()
    # Only states short of the end, each once, in order: the caller prints the final result.
    assert lines, "no line while the run went on"
    assert lines == sorted(set(lines), key=lines.index)
    assert set(lines) <= {f"run {run_id}: STARTED", f"run {run_id}: RUNNING"}, lines
    assert "\x1b" not in written.getvalue()
