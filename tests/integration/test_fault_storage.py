"""Fault injection on the blob store (issue 18, "Hardening"): S3 going away mid-traffic (moto behind a
loopback proxy the test switches off), and a local storage directory that is full (a 64 KiB tmpfs).

Starts that need the store answer 503 `runtime.unavailable` naming the storage, never a 500; a run
whose step needs the store ends FAILED with a typed error naming the pipe; nothing half-written is
left readable (every content-addressed method blob still hashes to its name); once the store is back,
the same reads answer the same and new runs complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import threading
import uuid
from collections.abc import AsyncGenerator, Callable, Generator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from shared.language.report import BundleSource
from shared.storage.blob_store import STORAGE_SCHEME, BlobStore, LocalBlobStore
from shared.storage.run_storage import method_digest
from tests.conftest import S3_TEST_REGION
from tests.helpers.api_server import assert_problem
from tests.helpers.function_bundles import chain_bundle
from tests.helpers.run_functions import SLOW
from tests.helpers.run_stack import RunStack, run_stack
from tests.integration.test_blob_stores import s3_client
from worker.dev_server import free_port
from worker.runner import build_worker
from worker.settings import WorkerSettings
from worker.temporal_connection import connect

HOST = "127.0.0.1"
WORKER: dict[str, Any] = {
    # A step that cannot reach the store fails its run after two quick attempts.
    "pipe_activity_max_attempts": 2,
    "pipe_activity_initial_interval_seconds": 0.2,
    "pipe_activity_max_interval_seconds": 0.5,
    # Outputs over 1 KiB are stored, so a step writes to the store.
    "content_inline_max_kib": 1,
}
BURST = 6  # starts in flight when S3 goes away
LONG_NAME = "n" * 3000  # a step's output over 1 KiB


class SwitchableProxy:
    """A TCP proxy on a loopback port in front of `target`, on a thread and event loop of its own (boto3
    blocks its callers); switched off, the port refuses connections and the open ones are cut."""

    def __init__(self, target: str) -> None:
        host, _, port = target.removeprefix("http://").partition(":")
        self.target = (host, int(port))
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.cut_after: int | None = None  # switch off once this many more requests went through
        self.cutting: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def switch_on(self) -> None:
        asyncio.run_coroutine_threadsafe(self._on(), self.loop).result(10)

    def switch_off(self) -> None:
        asyncio.run_coroutine_threadsafe(self._off(), self.loop).result(10)

    def switch_off_after(self, requests: int) -> None:
        """Let `requests` more requests (reads from clients) through, then switch off mid-traffic."""
        self.cut_after = requests

    def _forwarded(self) -> None:
        if self.cut_after is None:
            return
        self.cut_after -= 1
        if self.cut_after <= 0:
            self.cut_after = None
            self.cutting = self.loop.create_task(self._off())

    async def _on(self) -> None:
        self.server = await asyncio.start_server(self._pipe, HOST, self.port)

    async def _off(self) -> None:
        if self.server is None:
            return
        self.server.close()
        for writer in list(self.writers):
            writer.transport.abort()
        await self.server.wait_closed()
        self.server = None

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            self.writers.discard(writer)
            return
        self.writers.add(upstream_writer)
        await asyncio.gather(
            _copy(reader, upstream_writer, self._forwarded), _copy(upstream_reader, writer, lambda: None)
        )
        for end in (writer, upstream_writer):
            end.close()
            self.writers.discard(end)


async def _copy(
    source: asyncio.StreamReader, sink: asyncio.StreamWriter, forwarded: Callable[[], None]
) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
            forwarded()
        if sink.can_write_eof():
            sink.write_eof()


@contextlib.contextmanager
def switchable_proxy(target: str) -> Generator[SwitchableProxy]:
    proxy = SwitchableProxy(target)
    proxy.thread.start()
    proxy.switch_on()
    try:
        yield proxy
    finally:
        proxy.switch_off()
        proxy.loop.call_soon_threadsafe(proxy.loop.stop)
        proxy.thread.join(10)
        proxy.loop.close()


@pytest.fixture
def bucket(s3_server: str) -> Generator[str]:
    """A fresh bucket on the moto server, emptied and removed afterwards."""
    client = s3_client(s3_server)
    name = f"faults-{uuid.uuid4().hex[:20]}"
    client.create_bucket(Bucket=name)
    try:
        yield name
    finally:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
            for item in page.get("Contents", []):
                client.delete_object(Bucket=name, Key=item.get("Key", ""))
        client.delete_bucket(Bucket=name)


@contextlib.contextmanager
def full_directory(path: Path, size: str = "64k") -> Generator[Path]:
    """A tmpfs of `size` mounted at `path` (the tests run as root), unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(directory: Path) -> Path:
    """Write a file until the file system is full; return it (delete it to make room again)."""
    filler = directory / "filler"
    with contextlib.suppress(OSError), filler.open("wb") as stream:
        while True:
            stream.write(b"\0" * 4096)
            stream.flush()
    return filler


@asynccontextmanager
async def worker_on(
    stack: RunStack, temporal_address: str, data_dir: Path, **settings: Any
) -> AsyncGenerator[None]:
    """An in-process worker on the stack's queue, started now rather than with the stack."""
    client = await connect(temporal_address)
    async with build_worker(
        client, WorkerSettings(data_dir=data_dir, **settings), task_queue=stack.task_queue
    ):
        yield


def start_body(run_id: str, domain: str, name: str = "Ada") -> dict[str, Any]:
    return {
        "mthds_contents": [chain_bundle(SLOW, 1, domain)],
        "inputs": {"name": name},
        "pipeline_run_id": run_id,
    }


def assert_methods_whole(store: BlobStore) -> int:
    """Every stored method blob parses and hashes to its name: none half-written. How many there are."""
    uris = [
        uri
        for uri in store.list("methods/")
        if not uri.removeprefix(STORAGE_SCHEME).startswith("methods/trees/")
    ]
    for uri in uris:
        bundles = [BundleSource(path=item["path"], text=item["text"]) for item in json.loads(store.get(uri))]
        assert uri.endswith(f"/{method_digest(bundles)}.json"), uri
    return len(uris)


def assert_failed_on_storage(record: dict[str, Any], pipe: str) -> None:
    assert record["state"] == "FAILED", record
    error = record["error"]
    assert error["code"] == "runtime.unavailable", error
    assert error["location"]["pipe"] == pipe, error
    assert "storage" in error["detail"], error


async def test_s3_going_away_mid_traffic(
    temporal_address: str, tmp_path: Path, s3_server: str, bucket: str
) -> None:
    with switchable_proxy(s3_server) as proxy:
        storage: dict[str, Any] = {
            "storage": f"s3://{bucket}/faults",
            "storage_s3_endpoint_url": proxy.url,
            "storage_s3_region": S3_TEST_REGION,
        }
        async with run_stack(temporal_address, tmp_path, worker=False, api_overrides=storage) as stack:
            accepted = await stack.client.post("/v1/start", json=start_body("s3-accepted", "s3_fault_a"))
            assert accepted.status_code == 202, accepted.text

            # Starts in flight as the store goes away: each is accepted or refused typed, none half-done.
            # Three requests a start (a listing, a HEAD, a PUT): about half of them get through.
            proxy.switch_off_after(requests=BURST * 3 // 2)
            burst = await asyncio.gather(
                *(
                    stack.client.post("/v1/start", json=start_body(f"s3-burst-{index}", f"s3_burst_{index}"))
                    for index in range(BURST)
                )
            )
            for answer in burst:
                if answer.status_code != 202:
                    assert_problem(answer, 503, "runtime.unavailable")
            accepted_ids = ["s3-accepted"] + [
                f"s3-burst-{i}" for i, a in enumerate(burst) if a.status_code == 202
            ]
            refused_ids = [f"s3-burst-{i}" for i, a in enumerate(burst) if a.status_code != 202]

            proxy.switch_off()  # off for good, had the burst sent fewer requests
            refused = await stack.client.post("/v1/start", json=start_body("s3-refused", "s3_fault_b"))
            assert_problem(refused, 503, "runtime.unavailable")
            assert refused.headers["retry-after"] == "5"
            assert refused.json()["params"] == {"component": "storage"}
            # The accepted run's step cannot read its method: the run fails, typed, naming the step.
            async with worker_on(stack, temporal_address, tmp_path, **storage, **WORKER):
                while_down: dict[str, dict[str, Any]] = {}
                for run_id in accepted_ids:
                    final = await stack.wait_for_end(run_id, within=45)
                    assert final["state"] == "FAILED", final
                    record = await stack.client.get(f"/v1/runs/{run_id}")
                    assert record.status_code == 200, record.text
                    assert_failed_on_storage(record.json(), "step_1")
                    while_down[run_id] = record.json()

                proxy.switch_on()
                # Back: the same records, nothing of the refused starts, and new runs complete.
                for run_id, record in while_down.items():
                    after = (await stack.client.get(f"/v1/runs/{run_id}")).json()
                    assert (after["state"], after["error"]) == (record["state"], record["error"])
                for run_id in [*refused_ids, "s3-refused"]:
                    assert_problem(await stack.client.get(f"/v1/runs/{run_id}"), 404, "run.not_found")
                again = await stack.client.post("/v1/start", json=start_body("s3-refused", "s3_fault_b"))
                assert again.status_code == 202, again.text
                assert (await stack.wait_for_end("s3-refused"))["state"] == "COMPLETED"
            store = WorkerSettings(data_dir=tmp_path, **storage).blob_store
            assert assert_methods_whole(store) >= 2


async def test_a_full_storage_directory(temporal_address: str, tmp_path: Path) -> None:
    with full_directory(tmp_path / "store") as directory:
        storage: dict[str, Any] = {"storage": str(directory)}
        async with run_stack(temporal_address, tmp_path, worker=False, api_overrides=storage) as stack:
            accepted = await stack.client.post(
                "/v1/start", json=start_body("full-accepted", "full_fault_a", LONG_NAME)
            )
            assert accepted.status_code == 202, accepted.text

            filler = fill(directory)
            refused = await stack.client.post("/v1/start", json=start_body("full-refused", "full_fault_b"))
            assert_problem(refused, 503, "runtime.unavailable")
            assert refused.json()["params"] == {"component": "storage"}
            # The step's output is over the inline limit, so it is written to the full store: it fails.
            async with worker_on(stack, temporal_address, tmp_path, **storage, **WORKER):
                final = await stack.wait_for_end("full-accepted", within=45)
                assert final["state"] == "FAILED", final
                record = (await stack.client.get("/v1/runs/full-accepted")).json()
                assert_failed_on_storage(record, "step_1")
                assert not list(directory.rglob(".partial-*")), "a half-written file was left behind"
                assert not list(directory.rglob("contents/*")), "the output that did not fit was kept"

                filler.unlink()
                again = await stack.client.post("/v1/start", json=start_body("full-refused", "full_fault_b"))
                assert again.status_code == 202, again.text
                assert (await stack.wait_for_end("full-refused"))["state"] == "COMPLETED"
                assert (await stack.client.get("/v1/runs/full-accepted")).json()["error"] == record["error"]
            assert assert_methods_whole(LocalBlobStore(directory)) == 2
