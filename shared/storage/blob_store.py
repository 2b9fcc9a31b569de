"""Blob storage for run artefacts (generated documents, later large values and images).

One interface, `BlobStore`; the local-directory backend lives here, S3 in `s3_store.py`
(`open_store.open_blob_store` chooses from `STORAGE`).
Stored blobs are addressed by `pipelex-storage://<key>` URIs, the reference's scheme.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Final, Literal, Protocol

STORAGE_SCHEME: Final = "pipelex-storage://"


def local_storage_root(storage: str | None, data_dir: Path) -> Path:
    """`STORAGE` as a directory (a path or `file://` URL), else `$DATA_DIR/storage` (http-api.md §14)."""
    return Path(storage.removeprefix("file://")) if storage else data_dir / "storage"


class BlobNotFoundError(LookupError):
    """No blob under this URI (or the URI is not a storage URI of this store)."""


class StorageUnavailableError(Exception):
    """The store could not be reached or written (down, full, read-only, refusing): a fault of the
    deployment, never of the request, and one that may pass; nothing half-written is left readable."""


class BlobStore(Protocol):
    def put(self, key: str, data: bytes, mime_type: str) -> str:
        """Store `data` under `key`; return its `pipelex-storage://` URI; `StorageUnavailableError`."""
        ...

    def get(self, uri: str) -> bytes:
        """The bytes stored under `uri`; raises `BlobNotFoundError`."""
        ...

    def exists(self, key: str) -> bool:
        """Whether something is stored under `key` (content-addressed writers skip a second write)."""
        ...

    def list(self, prefix: str) -> list[str]:
        """The URIs of everything stored under the key prefix `prefix` (a folder ending in `/`)."""
        ...

    def public_url(self, uri: str) -> str | None:
        """A URL readers outside the service can open (a `file://` path locally, presigned for S3)."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Remove everything stored under the key prefix `prefix` (a folder); how many blobs went."""
        ...


class LocalBlobStore:
    """Blobs as files under one root directory; keys are relative paths that may not climb out of it."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._root = str(self.root)  # paths as strings on the read path: pathlib costs more than the read
        self._real_folders: set[str] = set()  # folders below the root seen to be directories, not links

    def put(self, key: str, data: bytes, mime_type: str) -> str:
        del mime_type  # a file system keeps no content type; the URI's suffix carries it
        path = self._path(key)
        temporary: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Write then rename, so a reader never sees half a file.
            handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".partial-")
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
            Path(temporary).replace(path)
        except OSError as exc:
            # A full or read-only disk: the half-written copy goes, the key keeps what it held.
            if temporary is not None:
                Path(temporary).unlink(missing_ok=True)
            msg = f"the storage directory cannot be written ({exc.strerror or exc})"
            raise StorageUnavailableError(msg) from exc
        return f"{STORAGE_SCHEME}{key}"

    def get(self, uri: str) -> bytes:
        if not uri.startswith(STORAGE_SCHEME):
            raise BlobNotFoundError(uri)
        try:
            # The open refuses a link in the last place itself (O_NOFOLLOW): no lstat of the file.
            return _read_file(self._file(uri.removeprefix(STORAGE_SCHEME), check_last=False))
        except (OSError, ValueError) as exc:
            raise BlobNotFoundError(uri) from exc

    def exists(self, key: str) -> bool:
        try:
            return self._path(key).is_file()
        except ValueError:
            return False

    def list(self, prefix: str) -> list[str]:
        try:
            folder = self._path(prefix.rstrip("/"))
        except ValueError:
            return []
        if not folder.is_dir():
            return []
        return [
            f"{STORAGE_SCHEME}{path.relative_to(self.root).as_posix()}"
            for path in sorted(folder.rglob("*"))
            if path.is_file() and not path.name.startswith(".partial-")
        ]

    def public_url(self, uri: str) -> str | None:
        if not uri.startswith(STORAGE_SCHEME):
            return None
        return self._path(uri.removeprefix(STORAGE_SCHEME)).as_uri()

    def delete_prefix(self, prefix: str) -> int:
        try:
            folder = self._path(prefix.rstrip("/"))
        except ValueError:
            return 0
        if folder.is_file():  # a prefix that is a whole key, as on S3
            folder.unlink(missing_ok=True)
            return 1
        if not folder.is_dir():
            return 0
        removed = sum(1 for path in folder.rglob("*") if path.is_file())
        shutil.rmtree(folder, ignore_errors=True)
        self._real_folders.clear()  # a removed folder's name may come back as anything
        return removed

    def _path(self, key: str) -> Path:
        return Path(self._file(key))

    def _file(self, key: str, *, check_last: bool = True) -> str:
        """The file of `key`, refused (ValueError) when the key climbs out of the store lexically or
        passes through a symbolic link inside it.

        Checked without `Path.resolve`, which costs a `lstat` and much Python per component of the
        absolute path: a resume reads one memo entry per reused invocation, and resolving them was
        most of a resumed batch's reading time (docs/design/large-batches.md). The check is lexical,
        then one `lstat` per component below the root that is not yet known to be a real directory.
        Symbolic links are refused wherever they point: the service never makes one, so one is a
        planted path, not a layout to honour.
        """
        normalized = posixpath.normpath(key) if key else ""
        if not key or key.startswith("/") or normalized in (".", "..") or normalized.startswith("../"):
            raise ValueError(_outside_message(key))
        parts = normalized.split("/")
        folder = ""
        for part in parts[:-1]:
            folder = f"{folder}/{part}" if folder else part
            if folder in self._real_folders:
                continue
            kind = self._kind(folder)
            if kind == "link":
                raise ValueError(_outside_message(key))
            if kind == "missing":
                return f"{self._root}/{normalized}"  # nothing below exists: nothing below is a link
            self._remember_real(folder)
        if check_last and self._kind(normalized) == "link":
            raise ValueError(_outside_message(key))
        return f"{self._root}/{normalized}"

    def _kind(self, relative: str) -> Literal["link", "missing", "other"]:
        try:
            mode = os.lstat(f"{self._root}/{relative}").st_mode
        except (FileNotFoundError, NotADirectoryError):
            return "missing"
        return "link" if stat.S_ISLNK(mode) else "other"

    def _remember_real(self, folder: str) -> None:
        # Bounded: a memo has a folder per key, and a long-lived worker must not keep them all.
        if len(self._real_folders) >= _REAL_FOLDERS_KEPT:
            self._real_folders.clear()
        self._real_folders.add(folder)


_REAL_FOLDERS_KEPT: Final = 4096


def _read_file(path: str) -> bytes:
    """A whole file, read with `os` calls (a memo read is small, and `Path.read_bytes` costs more in its
    layers than the read itself); a link in the last place is refused by the open itself."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        chunks: list[bytes] = []
        while chunk := os.read(descriptor, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(descriptor)


def _outside_message(key: str) -> str:
    return f"storage key {key!r} is not a relative path inside the store"
