"""Method files by content hash: the bytes a method tree names with `{"sha256", "size"}` entries, kept in the
service's blob store under one folder per scope, `method-blobs/<scope>/<sha256>`.

The scope is the caller's tenant (its storage prefix), so a hash entry resolves only among the caller's own
uploads: blobs never cross tenants, and asking whether a hash is held tells nothing of another tenant's files.
Writes are create-only: a blob, once held, is never replaced. Synchronous (an S3 store does network I/O):
callers on an event loop go through a thread.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Final, Protocol

from shared.storage.blob_store import STORAGE_SCHEME, BlobNotFoundError, BlobStore

METHOD_BLOBS_FOLDER: Final = "method-blobs"
BLOB_MIME_TYPE: Final = "application/octet-stream"
SHA256_HEX: Final = re.compile(r"[0-9a-f]{64}")
# A scope is one key segment: the storage prefixes of callers (`single-tenant`, `k_<hex>`, `t_<hex>`) fit.
_SCOPE: Final = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")


class BlobDamagedError(RuntimeError):
    """The object stored under a hash is not the bytes of that hash: only damaged storage holds one."""

    def __init__(self, sha256: str, reason: str) -> None:
        super().__init__(f"the stored blob {sha256} is damaged: {reason}")
        self.sha256 = sha256


class MethodBlobReader(Protocol):
    """What reading a method tree needs of the blobs: the bytes of a hash, when held."""

    def read(self, sha256: str) -> bytes | None:
        """The bytes held under `sha256` (checked against it), or None when not held; `BlobDamagedError`."""
        ...


def is_scope(value: str) -> bool:
    """Whether `value` can be a scope: one storage key segment (never `..`, never a `/`)."""
    return _SCOPE.fullmatch(value) is not None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class MethodBlobs:
    """The method blobs of one scope, over the service's blob store."""

    def __init__(self, store: BlobStore, scope: str) -> None:
        if not is_scope(scope):
            msg = f"a blob scope is one storage key segment, not {scope!r}"
            raise ValueError(msg)
        self.store = store
        self.scope = scope

    def key(self, sha256: str) -> str:
        if not SHA256_HEX.fullmatch(sha256):
            msg = f"a blob is named by 64 lowercase hexadecimal digits, not {sha256[:80]!r}"
            raise ValueError(msg)
        return f"{METHOD_BLOBS_FOLDER}/{self.scope}/{sha256}"

    def missing(self, hashes: Iterable[str]) -> list[str]:
        """The hashes of `hashes` this scope does not hold, sorted, each once."""
        return sorted(sha256 for sha256 in set(hashes) if not self.store.exists(self.key(sha256)))

    def read(self, sha256: str) -> bytes | None:
        try:
            data = self.store.get(f"{STORAGE_SCHEME}{self.key(sha256)}")
        except BlobNotFoundError:
            return None
        if sha256_hex(data) != sha256:
            raise BlobDamagedError(sha256, f"its {len(data)} bytes hash to another value")
        return data

    def put(self, sha256: str, data: bytes) -> bool:
        """Hold `data` under `sha256`; True when written, False when already held (nothing changes).

        `ValueError` when `data` does not hash to `sha256`; `BlobDamagedError` when the object held under
        it has another size, which is never written over.
        """
        if sha256_hex(data) != sha256:
            msg = f"the bytes given do not hash to {sha256}"
            raise ValueError(msg)
        key = self.key(sha256)
        if not self.store.exists(key):
            self.store.put(key, data, BLOB_MIME_TYPE)
            return True
        held = self.store.get(f"{STORAGE_SCHEME}{key}")
        if len(held) != len(data):
            raise BlobDamagedError(sha256, f"it holds {len(held)} bytes, not {len(data)}")
        return False
