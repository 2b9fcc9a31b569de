"""Choosing the blob store a process uses from `STORAGE` and `STORAGE_S3_*` (http-api.md §14).

A directory path or `file://` URL (default `$DATA_DIR/storage`) gives the local store, `s3://bucket/prefix`
the S3 one; anything else is refused with the variable's name, at start-up when settings check it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

from shared.storage.blob_store import BlobStore, LocalBlobStore, local_storage_root
from shared.storage.s3_store import DEFAULT_URL_EXPIRY_SECONDS, S3BlobStore, s3_key_error

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_SCHEME: Final = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# S3's bucket naming rules (lowercase; `_` still exists in old us-east-1 buckets and some compatibles).
_BUCKET: Final = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")
_EXPECTED: Final = "a directory path, file://<path> or s3://<bucket>/<prefix>"
STORAGE_VARIABLE: Final = "STORAGE"
ENDPOINT_VARIABLE: Final = "STORAGE_S3_ENDPOINT_URL"


class StorageConfigError(ValueError):
    """`STORAGE` or `STORAGE_S3_ENDPOINT_URL` is unusable; `variable` names it, `reason` says why."""

    def __init__(self, variable: str, reason: str) -> None:
        super().__init__(f"{variable}: {reason}")
        self.variable = variable
        self.reason = reason


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str


def storage_location(storage: str | None, data_dir: Path) -> Path | S3Location:
    """Where `STORAGE` points: a local directory or a bucket and key prefix; `StorageConfigError`."""
    if not storage:
        return local_storage_root(storage, data_dir)
    match = _SCHEME.match(storage)
    scheme = match.group(1).lower() if match else None
    if scheme is None and storage.lower().startswith("s3:"):
        scheme = "s3"  # `s3:bucket`, `s3:/bucket`: meant for S3, not a directory named so
    if scheme is None or scheme == "file":
        return local_storage_root(storage, data_dir)
    if scheme != "s3":
        raise StorageConfigError(STORAGE_VARIABLE, f"unknown scheme '{scheme}://' (give {_EXPECTED})")
    return _s3_location(storage)


def _s3_location(storage: str) -> S3Location:
    rest = storage[len("s3://") :] if storage[:5].lower() == "s3://" else ""
    bucket, _, prefix = rest.partition("/")
    if "?" in rest or "#" in rest:
        reason = "an s3:// URL takes no query or fragment"
    elif not _BUCKET.match(bucket):
        reason = "an s3:// URL needs a valid bucket name (3-63 of a-z 0-9 . - _)"
    else:
        prefix = prefix.strip("/")
        problem = s3_key_error(prefix) if prefix else None
        if problem is None:
            return S3Location(bucket=bucket, prefix=prefix)
        reason = f"the key prefix {prefix!r} is not usable: {problem}"
    raise StorageConfigError(STORAGE_VARIABLE, f"{reason}; expected s3://<bucket>/<prefix>, got {storage!r}")


def check_endpoint_url(endpoint_url: str | None) -> None:
    """Refuse an endpoint boto3 could not talk to (`StorageConfigError` naming the variable)."""
    if endpoint_url is None:
        return
    parts = urlsplit(endpoint_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        reason = f"give an http(s):// URL of an S3-compatible endpoint, got {endpoint_url!r}"
        raise StorageConfigError(ENDPOINT_VARIABLE, reason)


def open_blob_store(
    storage: str | None,
    data_dir: Path,
    *,
    s3_endpoint_url: str | None,
    s3_region: str | None = None,
    url_expiry_seconds: int = DEFAULT_URL_EXPIRY_SECONDS,
) -> BlobStore:
    """The store `STORAGE` names; S3 credentials come from boto3's standard chain (AWS variables, role)."""
    location = storage_location(storage, data_dir)
    if isinstance(location, Path):
        return LocalBlobStore(location)
    check_endpoint_url(s3_endpoint_url)
    # SigV4 for presigned URLs too (botocore may still presign with SigV2, which newer regions refuse);
    # path-style addressing for custom endpoints: MinIO and most compatibles serve no bucket subdomains.
    # Bounded waits: a store that is down fails a request in seconds, not minutes (botocore's defaults
    # are 60 s per connect and per read, five attempts); callers retry on their own terms (Temporal
    # retries activities, API clients are told to retry).
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path" if s3_endpoint_url else "auto"},
        connect_timeout=5,
        read_timeout=30,
        retries={"mode": "standard", "max_attempts": 3},
    )
    # A session of its own: boto3's default session is not thread-safe, this client is.
    session = boto3.session.Session()
    # boto3-stubs installs only the s3 overload of `client`; the others are unknown to pyright.
    client: S3Client = session.client(  # pyright: ignore[reportUnknownMemberType]
        "s3", endpoint_url=s3_endpoint_url, region_name=s3_region, config=config
    )
    return S3BlobStore(client, location.bucket, location.prefix, url_expiry_seconds=url_expiry_seconds)
