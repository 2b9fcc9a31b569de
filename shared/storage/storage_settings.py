"""The storage settings the API and the workers both read (http-api.md §14: `DATA_DIR`, `STORAGE`,
`STORAGE_S3_ENDPOINT_URL`, `STORAGE_S3_REGION`), with their start-up checks and the store they open.

A base both settings classes inherit, so the two processes can never read storage differently.
"""

from __future__ import annotations

import functools
from pathlib import Path

from pydantic import field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings

from shared.storage.blob_store import BlobStore, local_storage_root
from shared.storage.open_store import (
    StorageConfigError,
    check_endpoint_url,
    open_blob_store,
    storage_location,
)


class StorageSettings(BaseSettings):
    data_dir: Path = Path(".data")
    storage: str | None = None
    storage_s3_endpoint_url: str | None = None
    storage_s3_region: str | None = None

    @property
    def storage_root(self) -> Path:
        """The local storage directory: `STORAGE` (a path or `file://` URL), else `$DATA_DIR/storage`."""
        return local_storage_root(self.storage, self.data_dir)

    @functools.cached_property
    def blob_store(self) -> BlobStore:
        """The store `STORAGE` names, opened once per settings object (one S3 client and its pool)."""
        return open_blob_store(
            self.storage,
            self.data_dir,
            s3_endpoint_url=self.storage_s3_endpoint_url,
            s3_region=self.storage_s3_region,
        )

    @field_validator("storage")
    @classmethod
    def _usable_storage(cls, value: str | None) -> str | None:
        # Only the form is checked here (no connection): a bad scheme or bucket stops the start-up.
        try:
            storage_location(value, Path())
        except StorageConfigError as exc:
            error_type, template = "storage", "{reason}"
            raise PydanticCustomError(error_type, template, {"reason": exc.reason}) from exc
        return value

    @field_validator("storage_s3_endpoint_url")
    @classmethod
    def _usable_endpoint(cls, value: str | None) -> str | None:
        try:
            check_endpoint_url(value)
        except StorageConfigError as exc:
            error_type, template = "storage_s3_endpoint_url", "{reason}"
            raise PydanticCustomError(error_type, template, {"reason": exc.reason}) from exc
        return value
