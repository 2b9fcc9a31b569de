"""Run the offline corpus entries through the reference Pipelex API server and through our interpreter; diff.

Run from the repo root: `.venv/bin/python bench/compare_reference.py [--entry NAME ...]`.

The reference is pipelex-api 0.92.2, installed in `.cache/reference-venv`. This script boots it itself,
loopback only, with no network and no model (offline entries need none):

    cd <scratch dir>   # the run writes `.pipelex/storage` and `.pipelex/traces` under its working directory
    PIPELEX_HOME=.cache/reference-home   # seeded with pipelex.toml + inference/*.toml on first boot
    AUTH_MODE=none DO_NOT_TRACK=1        # no auth on /v1; no usage statistics
    <every ${VAR} of reference-home/inference/backends.toml>=dummy   # credentials are checked at boot
    .cache/reference-venv/bin/uvicorn pipelex_api.main:app --host 127.0.0.1 --port <free port>

Readiness: `GET /health` answers 200. Route: `POST /v1/execute` with `{"mthds_contents": [bundle.mthds,
others...], "inputs": {...}, "pipe_code": "<domain>.<main_pipe>"}`; the main output is in
`pipe_output.working_memory`: the stuff named `main_stuff` in `root` (or `absences`), else the one
`aliases.main_stuff` names; its `content`, or `{"absent": true, **absence record}`.

Outputs compare as pretty JSON (sorted keys, so 9.0 and 9 differ), storage/file URLs read `<storage-url>`.
Exit 0 whatever the verdicts; exit 2 when the reference server does not start.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import json
import re
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Generator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

# Run as a script, Python puts `bench/` first on sys.path; the repo root is needed to import `tests` and `worker`.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.runtime.caller_inputs import InputRefused
from shared.runtime.run_failure import PipeRunError
from shared.runtime.run_pipeline import RunRequest
from tests.conformance.corpus import CorpusEntry, Tier, fetch_wheel, load_entries

REPO_ROOT = Path(__file__).resolve().parents[1]
REFERENCE_VENV = REPO_ROOT / ".cache" / "reference-venv"
REFERENCE_HOME = REPO_ROOT / ".cache" / "reference-home"
# The `${VAR}`s of the backends.toml pipelex 0.92.2 seeds; boot refuses any enabled backend lacking one.
PROVIDER_VARS = (
    *("ANTHROPIC_API_KEY", "AZURE_API_BASE", "AZURE_API_KEY", "AZURE_API_VERSION", "AWS_REGION"),
    *("BLACKBOX_API_KEY", "FAL_API_KEY", "GOOGLE_API_KEY", "GROQ_API_KEY", "HF_TOKEN", "LINKUP_API_KEY"),
    *("MINIMAX_API_KEY", "MISTRAL_API_KEY", "OPENAI_API_KEY", "OPENROUTER_API_KEY", "PORTKEY_API_KEY"),
    *("SCALEWAY_ENDPOINT", "SCALEWAY_API_KEY", "TYPESAFE_API_KEY", "XAI_API_KEY"),
)
BOOT_TIMEOUT_S = 90.0
RUN_TIMEOUT_S = 120.0
MAIN_STUFF = "main_stuff"
STORAGE_URL = re.compile(r"\b(?:[a-z][a-z0-9+.-]*-storage|file)://[^\s\"'<>()\]]+")


class ServerDidNotStart(RuntimeError):
    """The reference server exited or never answered its health route."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_env(scratch: Path) -> dict[str, str]:
    """A minimal environment: no inherited keys or settings can reach the reference."""
    env = {"PATH": f"{REFERENCE_VENV / 'bin'}:/usr/bin:/bin", "HOME": str(scratch), "LANG": "C.UTF-8"}
    env |= dict.fromkeys(PROVIDER_VARS, "dummy")
    backends = REFERENCE_HOME / "inference" / "backends.toml"
    if backends.is_file():  # a later seed may name more variables than the list above
        env |= dict.fromkeys(re.findall(r"\$\{(\w+)\}", backends.read_text()), "dummy")
    return env | {"PIPELEX_HOME": str(REFERENCE_HOME), "AUTH_MODE": "none", "DO_NOT_TRACK": "1"}


@contextmanager
def reference_server(scratch: Path) -> Generator[str]:
    """Start the reference API in `scratch`, yield its base URL once healthy, stop it on exit."""
    REFERENCE_HOME.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = scratch / "server.log"
    command = [str(REFERENCE_VENV / "bin" / "uvicorn"), "pipelex_api.main:app"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("wb") as log:
        try:
            server = subprocess.Popen(  # noqa: S603 - fixed argv, our own venv
                command, cwd=scratch, env=server_env(scratch), stdout=log, stderr=subprocess.STDOUT
            )
        except OSError as exc:
            msg = f"reference server did not start: {exc}"
            raise ServerDidNotStart(msg) from exc
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + BOOT_TIMEOUT_S
        while not _healthy(base):
            if server.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
                msg = f"reference server did not start (exit {server.poll()}):\n{tail}"
                raise ServerDidNotStart(msg)
            time.sleep(0.5)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def pipe_ref_of(entry: CorpusEntry) -> str:
    header = tomllib.loads(entry.bundles[0].text)
    return f"{header['domain']}.{header['main_pipe']}"


def reference_main(base: str, entry: CorpusEntry) -> Any:
    """The main output the reference answers; raises `RuntimeError` on a refusal."""
    body = {
        "mthds_contents": [bundle.text for bundle in entry.bundles],
        "inputs": entry.inputs or {},
        "pipe_code": pipe_ref_of(entry),
    }
    answer = httpx.post(f"{base}/v1/execute", json=body, timeout=RUN_TIMEOUT_S)
    if answer.status_code != 200:
        problem: dict[str, Any] = (
            answer.json() if answer.headers.get("content-type", "").endswith("json") else {}
        )
        code = problem.get("code") or problem.get("type") or ""
        detail = problem.get("detail") or problem.get("title") or answer.text[:300]
        msg = f"HTTP {answer.status_code} {code}: {detail}"
        raise RuntimeError(msg)
    memory = answer.json()["pipe_output"]["working_memory"]
    root, absences = memory["root"], memory["absences"]
    name = MAIN_STUFF if MAIN_STUFF in root or MAIN_STUFF in absences else memory["aliases"].get(MAIN_STUFF)
    if name in root:
        return root[name]["content"]
    if name in absences:
        return {"absent": True, **absences[name]}
    return None


def our_main(entry: CorpusEntry) -> Any:
    """The main output of our in-process run; raises `RuntimeError` on a refusal or a failed run."""
    try:  # imported here: a runner being rewritten fails its entries, not the reference half
        from worker.in_process import MethodInvalid, run_sources
    except ImportError as exc:
        msg = f"worker.in_process does not import: {exc}"
        raise RuntimeError(msg) from exc
    request = RunRequest(pipe_ref=pipe_ref_of(entry), inputs=entry.inputs)
    with tempfile.TemporaryDirectory(prefix="compare-ours-") as storage:
        try:
            outcome = asyncio.run(run_sources(entry.bundles, request, storage_root=Path(storage)))
        except MethodInvalid as exc:
            msg = "MethodInvalid: " + "; ".join(issue.message for issue in exc.report.issues[:3])
            raise RuntimeError(msg) from exc
        except InputRefused as exc:
            msg = f"InputRefused {exc.code}: {exc.message}"
            raise RuntimeError(msg) from exc
        except PipeRunError as exc:
            msg = f"PipeRunError in {exc.pipe}: {exc}"
            raise RuntimeError(msg) from exc
        return outcome.main_json()


def normalised(value: Any) -> Any:
    if isinstance(value, str):
        return STORAGE_URL.sub("<storage-url>", value)
    if isinstance(value, list):
        return [normalised(item) for item in value]  # pyright: ignore[reportUnknownVariableType]
    if isinstance(value, dict):
        return {key: normalised(item) for key, item in value.items()}  # pyright: ignore[reportUnknownVariableType]
    return value


def pretty(value: Any) -> str:
    return json.dumps(normalised(value), indent=2, sort_keys=True, ensure_ascii=False)


def compare(base: str, entry: CorpusEntry) -> bool:
    """Print the verdict line of one entry (and its diff); true when both outputs are equal."""
    outputs: dict[str, str] = {}
    failures: list[str] = []
    for side, run in (("reference", lambda: reference_main(base, entry)), ("ours", lambda: our_main(entry))):
        try:
            outputs[side] = pretty(run())
        except Exception as exc:  # noqa: BLE001 - any failure of either side is this entry's verdict
            failures.append(f"{side}: {exc}" if isinstance(exc, RuntimeError) else f"{side}: {exc!r}")
    if failures:
        print(f"error {entry.name}: {' | '.join(failures)}")
        return False
    if outputs["reference"] == outputs["ours"]:
        print(f"same  {entry.name}")
        return True
    print(f"DIFF  {entry.name}")
    lines = difflib.unified_diff(
        outputs["reference"].splitlines(), outputs["ours"].splitlines(), "reference", "ours", n=1, lineterm=""
    )
    for line in lines:
        print(f"    {line}")
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--entry", action="append", default=[], help="compare only this entry (repeatable)")
    names: list[str] = parser.parse_args().entry
    entries = [entry for entry in load_entries(fetch_wheel()) if entry.manifest.tier is Tier.OFFLINE]
    if names:
        unknown = sorted(set(names) - {entry.name for entry in entries})
        if unknown:
            print(f"not offline corpus entries: {', '.join(unknown)}")
        entries = [entry for entry in entries if entry.name in names]
    with tempfile.TemporaryDirectory(prefix="compare-reference-") as scratch:
        try:
            with reference_server(Path(scratch)) as base:
                equal = sum(compare(base, entry) for entry in entries)
        except ServerDidNotStart as exc:
            print(exc)
            return 2
    print(f"reference comparison: {equal}/{len(entries)} entries equal")
    return 0


if __name__ == "__main__":
    sys.exit(main())
