"""The client's retries against a real outage: a private Temporal dev server (its SQLite file keeps the
runs) is stopped under a running service, then restarted on the same port. A `start` sent while it is
down gets 503s, retries after their `Retry-After`, and succeeds once Temporal is back, within its
deadline; a `wait` begun during the outage ends with the run, which went on across the restart.

The client reaches the API through a small recording proxy of our own (a real HTTP hop on loopback):
it shows which answers the client received, and restarts Temporal once the client has had its first
503, so the test never guesses how long the service takes to give up on Temporal.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from client import AsyncMethodflowClient, RetryPolicy
from tests.helpers.run_stack import run_stack
from tests.integration.test_client import FUNCS, HELLO, WELCOME
from worker.dev_server import DevServer, DevServerError, free_port, start_dev_server

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
# Hop-by-hop and length headers are the proxy's own to write.
_NOT_RELAYED = {"host", "content-length", "transfer-encoding", "connection"}


@asynccontextmanager
async def recording_proxy(upstream: str, answered: Callable[[str, str, int], None]) -> AsyncGenerator[str]:
    """An HTTP proxy on a loopback port relaying every request to `upstream` whole (no streaming),
    calling `answered(method, path, status)` before each answer goes back; yields its URL."""
    async with httpx.AsyncClient(base_url=upstream, timeout=60) as relay:

        async def app(scope: Message, receive: Receive, send: Send) -> None:
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            headers = [
                (name.decode(), value.decode())
                for name, value in scope["headers"]
                if name.decode().lower() not in _NOT_RELAYED
            ]
            query = scope["query_string"].decode()
            response = await relay.request(
                scope["method"],
                scope["path"] + (f"?{query}" if query else ""),
                headers=headers,
                content=body,
            )
            answered(scope["method"], scope["path"], response.status_code)
            kept = [
                (name.encode(), value.encode())
                for name, value in response.headers.items()
                if name.lower() not in _NOT_RELAYED
            ]
            await send({"type": "http.response.start", "status": response.status_code, "headers": kept})
            await send({"type": "http.response.body", "body": response.content})

        port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve())
        while not server.started:  # noqa: ASYNC110 -- uvicorn offers a flag, not an event
            await asyncio.sleep(0.01)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            await serving


def dev_server(database: Path, port: int | None = None) -> DevServer:
    """A dev server keeping its runs in `database`, on `port` (a free one when None).

    Besides that port, the server binds others it picks at random (its HTTP API, metrics, services):
    on a machine where other processes take ports too, one is sometimes taken already and the server
    exits at once (seen: 2 starts in 15). It is then started again.
    """
    for _ in range(2):
        try:
            return start_dev_server(port=port or free_port(), db_file=database)
        except DevServerError:
            continue
    return start_dev_server(port=port or free_port(), db_file=database)


@pytest.mark.timeout(90)
async def test_a_start_and_a_wait_outlast_temporal_stopped_then_restarted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The slow run's pipe outlasts the stop and ends while Temporal is down: the worker reports it once
    # Temporal is back. Should that report be given up, the pipe's 15 s timeout retries it, never a hang.
    monkeypatch.setenv("SLOW_SECONDS", "3")
    database = tmp_path / "temporal" / "runs.db"
    servers = [dev_server(database)]
    port = servers[0].port
    start_answers: list[int] = []
    first_refusal = asyncio.Event()
    restarted = asyncio.Event()

    def answered(method: str, path: str, status: int) -> None:
        if (method, path) == ("POST", "/v1/start"):
            start_answers.append(status)
            if status == 503:
                first_refusal.set()

    async def restart_after_the_first_refusal() -> None:
        await first_refusal.wait()
        servers.append(await asyncio.to_thread(dev_server, database, port))
        restarted.set()

    policy = RetryPolicy(deadline=30)
    try:
        async with (
            run_stack(
                f"127.0.0.1:{port}", tmp_path, worker_overrides={"pipe_activity_timeout_seconds": 15}
            ) as stack,
            recording_proxy(stack.base_url, answered) as proxy_url,
            AsyncMethodflowClient(proxy_url, retry=policy) as through_proxy,
            AsyncMethodflowClient(stack.base_url, retry=policy) as direct,
        ):
            slow = await direct.start(mthds_contents=[FUNCS], pipe_code="slow", inputs={"name": "x"})
            servers[0].stop()
            restarting = asyncio.create_task(restart_after_the_first_refusal())

            async def wait_for_the_slow_run() -> tuple[str, bool]:
                ended = await direct.wait(slow.pipeline_run_id, within=35, interval=0.2)
                return ended.state, restarted.is_set()

            waiting = asyncio.create_task(wait_for_the_slow_run())

            started = await through_proxy.start(mthds_contents=[HELLO], inputs={"name": "Ada"})
            assert restarted.is_set(), "the start succeeded before Temporal was back"
            assert start_answers[0] == 503
            assert start_answers[-1] == 202
            assert set(start_answers[:-1]) == {503}  # refused while down, then retried until accepted
            await restarting

            ended = await direct.wait(started.pipeline_run_id, within=30, interval=0.1)
            assert ended.state == "COMPLETED"
            results = await direct.results(started.pipeline_run_id)
            assert results is not None
            assert results.main_stuff == WELCOME

            assert await waiting == ("COMPLETED", True)
            slow_results = await direct.results(slow.pipeline_run_id)
            assert slow_results is not None
            assert slow_results.main_stuff == {"text": "x+"}
    finally:
        for server in servers:
            server.stop()
