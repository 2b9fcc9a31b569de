"""The service spread over several hosts (issue 15, "Several hosts"): Temporal, the API, S3 storage and two
worker hosts, each a network namespace of its own on a virtual network (`tests/helpers/netns.py`).

Each worker host runs two pools, as a Kubernetes node would run a pod of each worker Deployment:
`main` (the workflows) and `func` (PipeFunc steps, routed by `TASK_QUEUE_ROUTES=func=func`). Runs started
at the API complete on the workers; one worker host is then killed (SIGKILL to every process in it, its
runs in flight) and its runs finish on the other host. Which host and pool ran what is read from
Temporal's own records: each workflow and activity task start names the worker identity (`pid@host`),
and each worker's process id is known here (`ip netns exec` keeps it). No two hosts share a disk path:
each has its own `DATA_DIR`, and contents over 1 KiB move through moto's S3 server on its own host.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from api.auth import SINGLE_TENANT
from shared.runs.names import SEARCH_ATTRIBUTES, run_workflow_id
from tests.conftest import S3_TEST_CREDENTIALS, S3_TEST_REGION
from tests.helpers.function_bundles import chain_bundle
from tests.helpers.netns import HostProcess, VirtualNetwork, unavailable_reason, virtual_network
from tests.helpers.run_functions import SLOW
from tests.helpers.worker_process import REPO_ROOT
from tests.integration.test_blob_stores import s3_client
from worker.dev_server import temporal_binary
from worker.temporal_connection import connect

BIN = Path(sys.executable).parent
TEMPORAL_PORT = 7233
API_PORT = 8081
S3_PORT = 5000
HOSTS = ("temporal", "api", "storage", "worker-a", "worker-b")
WORKER_HOSTS = ("worker-a", "worker-b")
VICTIM, SURVIVOR = WORKER_HOSTS
POOLS = {"main": 8082, "func": 8083}  # each pool's health port on its host
ROUTES = "func=func"
RUNS = 12
STEPS = 4
# Over `CONTENT_INLINE_MAX_KIB` (1): every step's input and output goes through S3.
PADDING = "x" * 1100
BUCKET_PREFIX = "hosts"

pytestmark = pytest.mark.skipif(
    (reason := unavailable_reason()) is not None, reason=f"no network namespaces here: {reason}"
)


def base_environment(net: VirtualNetwork, bucket: str, task_queue: str) -> dict[str, str]:
    """What the API and the workers share: Temporal and S3 by their hosts' addresses, nothing local."""
    return {
        "PATH": f"{BIN}:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(REPO_ROOT),  # FUNCTION_MODULES names the tests' own functions
        "TEMPORAL_ADDRESS": f"{net.hosts['temporal'].address}:{TEMPORAL_PORT}",
        "TEMPORAL_TASK_QUEUE": task_queue,
        "STORAGE": f"s3://{bucket}/{BUCKET_PREFIX}",
        "STORAGE_S3_ENDPOINT_URL": f"http://{net.hosts['storage'].address}:{S3_PORT}",
        "STORAGE_S3_REGION": S3_TEST_REGION,
        "AWS_ACCESS_KEY_ID": S3_TEST_CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": S3_TEST_CREDENTIALS["aws_secret_access_key"],
        "AWS_EC2_METADATA_DISABLED": "true",
        "FUNCTION_MODULES": "tests.helpers.run_functions",
        "CONTENT_INLINE_MAX_KIB": "1",
        "TASK_QUEUE_ROUTES": ROUTES,
        "LOG_LEVEL": "INFO",
    }


def start_temporal(net: VirtualNetwork, tmp_path: Path) -> HostProcess:
    """The Temporal dev server of the temporal host, with the runs' search attributes (as dev_server.py).

    It listens on every address of its host (`0.0.0.0` inside the namespace: its veth and its own
    loopback): given a single other address, its internal services still dial each other on 127.0.0.1
    and the frontend answers Unavailable (temporal CLI 1.9.1; temporalio/temporalite-archived#121).
    """
    argv = [str(temporal_binary()), "server", "start-dev", "--headless", "--log-level", "error"]
    argv += ["--ip", "0.0.0.0", "--port", str(TEMPORAL_PORT)]  # noqa: S104 -- one host's own addresses
    argv += [arg for name in SEARCH_ATTRIBUTES for arg in ("--search-attribute", f"{name}=Keyword")]
    argv += ["--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000"]
    return net.start("temporal", "temporal", argv, {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})


def start_worker(
    net: VirtualNetwork, host: str, pool: str, env: Mapping[str, str], tmp_path: Path
) -> HostProcess:
    settings = {
        **env,
        "DATA_DIR": str(tmp_path / host),  # the host's own disk: nothing of the runs may be kept there
        "SLOW_SECONDS": "1.5",
        "WORKER_HEALTH_PORT": str(POOLS[pool]),
        "WORKER_MAX_CONCURRENT_ACTIVITIES": str(2 * RUNS),
        # The killed host's activities are retried once their heartbeat is missed (each 1.5 s step
        # heartbeats at its start), and its cached runs move to the other host after 1 s.
        "PIPE_ACTIVITY_HEARTBEAT_SECONDS": "4",
        "PIPE_ACTIVITY_INITIAL_INTERVAL_SECONDS": "0.2",
        "PIPE_ACTIVITY_MAX_INTERVAL_SECONDS": "1",
        "WORKER_STICKY_TIMEOUT_SECONDS": "1",
    }
    argv = [str(BIN / "methodflow"), "worker", "--pool", pool]
    return net.start(host, f"{host}-{pool}", argv, settings, cwd=REPO_ROOT)


async def wait_ready(worker: HostProcess, pool: str, within: float = 60) -> dict[str, Any]:
    """Poll the worker's `/ready` from the root namespace, over the bridge, until it answers 200."""
    url = f"http://{worker.host.address}:{POOLS[pool]}/ready"
    deadline = asyncio.get_running_loop().time() + within
    async with httpx.AsyncClient(timeout=2) as probe:
        while True:
            if worker.process.poll() is not None or asyncio.get_running_loop().time() > deadline:
                msg = f"{worker.label} is not ready (exit {worker.process.returncode}):\n{worker.log()}"
                raise AssertionError(msg)
            with contextlib.suppress(httpx.TransportError):
                answer = await probe.get(url)
                if answer.status_code == 200:
                    return cast(dict[str, Any], answer.json())
            await asyncio.sleep(0.1)


def loopback_refused(net: VirtualNetwork, host: str, port: int) -> bool:
    """Whether `host` fails to reach `127.0.0.1:port`: the service it wants is only on another host."""
    probe = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2)"
    done = subprocess.run(
        net.hosts[host].command([sys.executable, "-c", probe]), capture_output=True, check=False
    )
    return done.returncode != 0 and b"ConnectionRefusedError" in done.stderr


async def progress(api: httpx.AsyncClient, names: list[str]) -> dict[str, dict[str, Any]]:
    answers = await asyncio.gather(*(api.get(f"/v1/runs/{name}/status") for name in names))
    return {name: answer.json() for name, answer in zip(names, answers, strict=True)}


async def wait_until(
    api: httpx.AsyncClient, names: list[str], done: str, *, within: float
) -> dict[str, dict[str, Any]]:
    """Poll the runs' statuses until each satisfies `done` ("one_step" or "ended"); return them."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        current = await progress(api, names)
        if done == "one_step":
            reached = all(status.get("progress", {}).get("pipes_done", 0) >= 1 for status in current.values())
        else:
            reached = all(
                status.get("state") in ("COMPLETED", "FAILED", "CANCELLED") for status in current.values()
            )
        if reached:
            return current
        if asyncio.get_running_loop().time() > deadline:
            msg = f"the runs did not reach {done!r} within {within} s: {current}"
            raise AssertionError(msg)
        await asyncio.sleep(0.1)


Place = tuple[str, str]  # (host, pool) of the worker that took a task


@dataclass(frozen=True)
class TaskStart:
    event_id: int
    kind: str  # "workflow" or "activity"
    activity_id: str  # "" for a workflow task
    queue: str  # the activity's task queue, or the workflow's main queue
    attempt: int
    place: Place


async def task_starts(client: Client, name: str, places: Mapping[int, Place]) -> list[TaskStart]:
    """Each workflow and activity task start of the run's history, with the host and pool that took it."""
    handle = client.get_workflow_handle(run_workflow_id(SINGLE_TENANT, name))
    scheduled_on: dict[int, tuple[str, str]] = {}  # scheduled event id: (activity id, task queue)
    starts: list[TaskStart] = []
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled = event.activity_task_scheduled_event_attributes
            scheduled_on[event.event_id] = (scheduled.activity_id, scheduled.task_queue.name)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started = event.activity_task_started_event_attributes
            activity_id, queue = scheduled_on[started.scheduled_event_id]
            place = _place(started.identity, places)
            starts.append(TaskStart(event.event_id, "activity", activity_id, queue, started.attempt, place))
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            identity = event.workflow_task_started_event_attributes.identity
            starts.append(TaskStart(event.event_id, "workflow", "", "", 1, _place(identity, places)))
    return starts


async def in_flight_on(client: Client, name: str, places: Mapping[int, Place], host: str) -> set[str]:
    """The ids of the run's activities whose current attempt a worker of `host` took (Temporal's view)."""
    description = await client.get_workflow_handle(run_workflow_id(SINGLE_TENANT, name)).describe()
    pending = description.raw_description.pending_activities
    return {
        activity.activity_id
        for activity in pending
        if activity.last_worker_identity and _place(activity.last_worker_identity, places)[0] == host
    }


def _place(identity: str, places: Mapping[int, Place]) -> Place:
    # The SDK's default worker identity is `<pid>@<hostname>`; the hostname is shared (no UTS namespace).
    return places[int(identity.partition("@")[0])]


@pytest.mark.timeout(180)  # about 45 s on an idle machine; 85 s seen under a load of 9 on 2 cores
async def test_runs_spread_over_hosts_and_survive_a_dead_host(tmp_path: Path) -> None:
    task_queue = f"hosts-{uuid.uuid4()}"
    func_queue = f"{task_queue}-func"
    bucket = f"hosts-{uuid.uuid4().hex[:20]}"
    names = [f"hosts-{index:02d}" for index in range(RUNS)]
    bundle = chain_bundle(SLOW, STEPS, "hosts")
    clock = time.monotonic()
    with virtual_network(HOSTS, tmp_path) as net:
        temporal = start_temporal(net, tmp_path)
        moto = net.start(
            "storage",
            "s3",
            [sys.executable, "-m", "moto.server", "-H", net.hosts["storage"].address, "-p", str(S3_PORT)],
            {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        )
        net.wait_for_port("temporal", TEMPORAL_PORT, process=temporal)
        net.wait_for_port("storage", S3_PORT, process=moto)
        infra = time.monotonic()
        s3 = s3_client(f"http://{net.hosts['storage'].address}:{S3_PORT}")
        s3.create_bucket(Bucket=bucket)

        env = base_environment(net, bucket, task_queue)
        api_argv = [str(BIN / "uvicorn"), "api.main:create_app", "--factory", "--log-level", "warning"]
        api_argv += ["--host", net.hosts["api"].address, "--port", str(API_PORT)]
        api = net.start("api", "api", api_argv, {**env, "DATA_DIR": str(tmp_path / "api")}, cwd=REPO_ROOT)
        workers = {
            (host, pool): start_worker(net, host, pool, env, tmp_path)
            for host in WORKER_HOSTS
            for pool in POOLS
        }
        net.wait_for_port("api", API_PORT, process=api)
        api_up = time.monotonic()
        for (_, pool), worker in workers.items():
            ready = await wait_ready(worker, pool)
            assert ready["task_queues"] == ([task_queue] if pool == "main" else [func_queue]), ready
        places = {worker.process.pid: place for place, worker in workers.items()}
        # Every service is on another host: nothing answers on a worker host's or the API host's loopback.
        assert loopback_refused(net, VICTIM, TEMPORAL_PORT)
        assert loopback_refused(net, "api", S3_PORT)
        up = time.monotonic()

        base_url = f"http://{net.hosts['api'].address}:{API_PORT}"
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            started = await asyncio.gather(
                *(
                    http.post(
                        "/v1/start",
                        json={
                            "mthds_contents": [bundle],
                            "inputs": {"name": name + PADDING},
                            "pipeline_run_id": name,
                        },
                    )
                    for name in names
                )
            )
            assert [answer.status_code for answer in started] == [202] * RUNS, [a.text for a in started]

            before_kill = await wait_until(http, names, "one_step", within=60)
            killed = net.kill_host(VICTIM)
            killed_at = time.monotonic()
            assert {workers[VICTIM, pool].process.pid for pool in POOLS} <= set(killed)
            # The kill hit runs in the middle.
            assert {status["state"] for status in before_kill.values()} == {"RUNNING"}, before_kill
            assert all(status["progress"]["pipes_done"] < STEPS for status in before_kill.values())
            # What the dead host was running, and the histories as the kill left them.
            client = await connect(f"{net.hosts['temporal'].address}:{TEMPORAL_PORT}")
            in_flight = {name: await in_flight_on(client, name, places, VICTIM) for name in names}
            at_kill = {name: await task_starts(client, name, places) for name in names}

            final = await wait_until(http, names, "ended", within=90)
            assert {status["state"] for status in final.values()} == {"COMPLETED"}, final
            for name in names:
                results = await http.get(f"/v1/runs/{name}/results")
                assert results.status_code == 200, results.text
                assert results.json()["main_stuff"] == {"text": name + PADDING + "+" * STEPS}
            assert all(workers[SURVIVOR, pool].process.poll() is None for pool in POOLS), net.logs()
        ended = time.monotonic()

        at_end = {name: await task_starts(client, name, places) for name in names}
        every = [start for starts in at_end.values() for start in starts]
        # Routing held across hosts: workflow tasks only on `main` workers, PipeFunc steps on `func` queue
        # and workers, and before the kill both hosts' pools took part.
        assert {start.place[1] for start in every if start.kind == "workflow"} == {"main"}
        steps = [start for start in every if start.kind == "activity" and start.queue == func_queue]
        assert {start.place[1] for start in steps} == {"func"}
        assert len(steps) == RUNS * STEPS, steps  # each step's last attempt
        before = [start for starts in at_kill.values() for start in starts]
        assert {start.place for start in before} == {(host, pool) for host in WORKER_HOSTS for pool in POOLS}
        # The runs the dead host had worked on moved: each ended on the surviving host.
        moved = [
            name for name, starts in at_kill.items() if any(start.place[0] == VICTIM for start in starts)
        ]
        assert moved, at_kill
        for name in moved:
            assert at_end[name][-1].place == (SURVIVOR, "main"), (name, at_end[name])
        # The steps in flight on the dead host were done again, and completed, by the other host.
        assert any(in_flight.values()), in_flight
        for name, activity_ids in in_flight.items():
            for activity_id in activity_ids:
                last = [start for start in at_end[name] if start.activity_id == activity_id][-1]
                assert last.place == (SURVIVOR, "func"), (name, last)
                assert last.attempt >= 2, (name, last)
        retried = [start for start in steps if start.attempt >= 2]
        # The contents travelled through S3, not a disk: each run's input stored by the API host, each
        # step's output by the worker host that ran it (one key per step, rewritten by a retry), and
        # nothing in any host's DATA_DIR.
        keys = [
            item.get("Key", "")
            for page in s3.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=f"{BUCKET_PREFIX}/"
            )
            for item in page.get("Contents", [])
        ]
        for name in names:
            assert any(f"/runs/{name}/inputs/" in key for key in keys), (name, keys)
            assert len([key for key in keys if f"/runs/{name}/contents/" in key]) == STEPS, (name, keys)
        for host in ("api", *WORKER_HOSTS):
            assert not [path for path in (tmp_path / host).rglob("*") if path.is_file()], host
        sys.stderr.write(
            f"hosts up in {up - clock:.1f} s (Temporal and S3 {infra - clock:.1f} s, API {api_up - infra:.1f} s "
            f"more, workers {up - api_up:.1f} s more), kill after {killed_at - up:.1f} s, runs ended "
            f"{ended - killed_at:.1f} s later; {len(moved)} of {RUNS} runs moved, "
            f"{sum(map(len, in_flight.values()))} steps in flight at the kill, {len(retried)} retried\n"
        )
