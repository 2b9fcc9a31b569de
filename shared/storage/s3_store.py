"""The S3 backend of `BlobStore` (`STORAGE=s3://bucket/prefix`, http-api.md §14): any S3-compatible store.

Objects live under the configured prefix; `pipelex-storage://<key>` URIs name keys relative to it, exactly
as the local store's do, so a URI never depends on where the store is. The boto3 client is synchronous:
callers on an event loop go through a thread (`asyncio.to_thread`, `run_in_threadpool`).
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Final

from botocore.exceptions import BotoCoreError, ClientError

from shared.storage.blob_store import STORAGE_SCHEME, BlobNotFoundError, StorageUnavailableError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# What S3 (and compatible stores) answer for a key that is not there: `get_object` says NoSuchKey,
# `head_object` has no body and reports the bare status.
_MISSING_CODES: Final = frozenset({"NoSuchKey", "404", "NotFound"})
_DELETE_BATCH: Final = 1000
DEFAULT_URL_EXPIRY_SECONDS: Final = 3600


def s3_key_error(key: str) -> str | None:
    """Why `key` is not a usable relative key (the local store's rule: no climbing, no root), or None."""
    if not key or key.startswith("/"):
        return "a storage key is a non-empty relative path"
    if any(part in ("", ".", "..") for part in key.split("/")):
        return "a storage key has no empty, '.' or '..' segments"
    return None


class S3BlobStore:
    """Blobs as objects of one bucket, under `prefix/`; keys obey the local store's rules."""

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        prefix: str = "",
        *,
        url_expiry_seconds: int = DEFAULT_URL_EXPIRY_SECONDS,
        page_size: int = 1000,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.url_expiry_seconds = url_expiry_seconds
        self.page_size = page_size

    def put(self, key: str, data: bytes, mime_type: str) -> str:
        object_key = self._object_key(key)
        # S3 writes whole objects atomically: a reader never sees half of one.
        with _reaching("write"):
            self.client.put_object(Bucket=self.bucket, Key=object_key, Body=data, ContentType=mime_type)
        return f"{STORAGE_SCHEME}{key}"

    def get(self, uri: str) -> bytes:
        if not uri.startswith(STORAGE_SCHEME):
            raise BlobNotFoundError(uri)
        try:
            object_key = self._object_key(uri.removeprefix(STORAGE_SCHEME))
        except ValueError as exc:
            raise BlobNotFoundError(uri) from exc
        with _reaching("read"):
            try:
                response = self.client.get_object(Bucket=self.bucket, Key=object_key)
            except ClientError as exc:
                if _is_missing(exc):
                    raise BlobNotFoundError(uri) from exc
                raise  # access denied, missing bucket, ...: a configuration fault, not a missing blob
            body = response["Body"]
            try:
                return body.read()
            finally:
                body.close()

    def exists(self, key: str) -> bool:
        try:
            object_key = self._object_key(key)
        except ValueError:
            return False
        with _reaching("read"):
            try:
                self.client.head_object(Bucket=self.bucket, Key=object_key)
            except ClientError as exc:
                if _is_missing(exc):
                    return False
                raise
        return True

    def list(self, prefix: str) -> list[str]:
        try:
            folder = f"{self._object_key(prefix.rstrip('/'))}/"
        except ValueError:
            return []
        base = f"{self.prefix}/" if self.prefix else ""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=folder, PaginationConfig={"PageSize": self.page_size}
        )
        with _reaching("list"):
            keys = [item["Key"] for page in pages for item in page.get("Contents", []) if "Key" in item]
        return sorted(f"{STORAGE_SCHEME}{key.removeprefix(base)}" for key in keys)

    def public_url(self, uri: str) -> str | None:
        """A presigned GET URL, valid `url_expiry_seconds`; signing is local, no request is made."""
        if not uri.startswith(STORAGE_SCHEME):
            return None
        object_key = self._object_key(uri.removeprefix(STORAGE_SCHEME))
        return self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": object_key},
            ExpiresIn=self.url_expiry_seconds,
        )

    def delete_prefix(self, prefix: str) -> int:
        uris = self.list(prefix)
        keys = [self._object_key(uri.removeprefix(STORAGE_SCHEME)) for uri in uris]
        for start in range(0, len(keys), _DELETE_BATCH):  # S3 takes at most 1,000 keys a request
            batch = keys[start : start + _DELETE_BATCH]
            with _reaching("delete"):
                self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
                )
        return len(keys)

    def _object_key(self, key: str) -> str:
        reason = s3_key_error(key)
        if reason is not None:
            msg = f"storage key {key!r} is not a relative path inside the store: {reason}"
            raise ValueError(msg)
        return f"{self.prefix}/{key}" if self.prefix else key


@contextmanager
def _reaching(action: str) -> Generator[None]:
    """Turn the store's own faults (unreachable, timing out, refusing) into `StorageUnavailableError`;
    a missing key is the caller's to handle, inside the block."""
    try:
        yield
    except BotoCoreError as exc:
        msg = f"the S3 store cannot be reached to {action}: {exc}"
        raise StorageUnavailableError(msg) from exc
    except ClientError as exc:
        error = exc.response.get("Error", {})
        msg = (
            f"the S3 store refused to {action}: {error.get('Code', '?')} {error.get('Message', '')}".rstrip()
        )
        raise StorageUnavailableError(msg) from exc


def _is_missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code", "") in _MISSING_CODES
