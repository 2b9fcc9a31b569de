"""The method a validate or run request carries, turned into bundle sources (http-api.md §4.1, §4.5, §8.1).

Exactly one of `files`, `mthds_contents`, `mthds_content`, `plx_content`. Limits are checked before any
large decoding, so a refused request costs little. Hash entries of `files` are read from the caller's
method blobs: a route passes `blobs=` (`MethodBlobsDep`, or `caller_blobs(caller, settings)`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Caller
from api.deps import CallerDep, SettingsDep
from api.method_tree import default_bundle_paths, tree_bundle_sources
from api.problems import request_invalid, request_too_large
from api.settings import ApiSettings
from shared.language.report import BundleSource
from shared.security.tree_paths import tree_path_fault
from shared.storage.method_blobs import MethodBlobReader, MethodBlobs

# The order decides which field a "two sources" refusal names: the later one (§4.5 step 3).
SOURCE_FIELDS = ("files", "mthds_contents", "mthds_content", "plx_content")


class MethodSourceFields(BaseModel):
    """The request members that carry the method; other members are the route's own."""

    model_config = ConfigDict(strict=True, extra="ignore")

    files: dict[str, str | dict[str, Any]] | list[dict[str, Any]] | None = Field(
        default=None,
        description=(
            "Method tree: path -> UTF-8 text, {'base64': ...} or {'sha256', 'size'}. Files ending "
            "'.mthds' are bundles. The v0.16 list [{'content', 'source'}] is also accepted."
        ),
    )
    mthds_contents: list[str] | None = Field(default=None, description="Bundle texts.")
    mthds_sources: list[str] | None = Field(
        default=None, description="Logical paths of `mthds_contents`, one per text."
    )
    mthds_content: str | None = Field(default=None, description="Legacy: one bundle text.")
    plx_content: str | None = Field(default=None, description="Legacy (2025 API): one bundle text.")


def caller_blobs(caller: Caller, settings: ApiSettings) -> MethodBlobs:
    """The method blobs of `caller`'s scope (its tenant): where its hash entries are read."""
    return MethodBlobs(settings.blob_store, caller.storage_prefix)


def _method_blobs(caller: CallerDep, settings: SettingsDep) -> MethodBlobs:
    return caller_blobs(caller, settings)


# The authenticated caller's method blobs, for a route reading `files` (authenticates, as `CallerDep`).
MethodBlobsDep = Annotated[MethodBlobs, Depends(_method_blobs)]


def bundle_sources(
    fields: MethodSourceFields,
    settings: ApiSettings,
    *,
    refuse_custom_code: bool,
    blobs: MethodBlobReader | None,
) -> list[BundleSource]:
    """The bundles of the request's one method source; `ProblemError` (413/422/500/501) when it has none usable.

    `refuse_custom_code`: runs refuse `.py` files (501); validation ignores them, since it reads
    only bundles and a verdict on the bundles is still useful to a client holding such a tree.
    `blobs`: where hash entries of `files` are read (None: every one is missing). Reading them is
    blocking I/O: on an event loop, call this through `run_in_threadpool`.
    """
    present = [name for name in SOURCE_FIELDS if getattr(fields, name) is not None]
    if not present:
        raise request_invalid(
            field="mthds_contents", reason="the request carries no method; send 'files' or 'mthds_contents'."
        )
    if len(present) > 1:
        raise request_invalid(
            field=present[1], reason=f"only one method source is allowed and '{present[0]}' is already given."
        )
    _check_tree_paths(fields)
    if fields.files is not None:
        return tree_bundle_sources(fields.files, settings, refuse_custom_code=refuse_custom_code, blobs=blobs)
    source = present[0]
    if fields.mthds_contents is not None:
        return _texts_as_sources(source, fields.mthds_contents, fields.mthds_sources, settings)
    # Exactly one of the two singular fields is set here; `or` picks it even when it is "".
    text = fields.mthds_content or fields.plx_content or ""
    return _texts_as_sources(source, [text], None, settings)


def _check_tree_paths(fields: MethodSourceFields) -> None:
    """422 for the first path of `files` (or `mthds_sources`) that could name a file outside the tree."""
    if isinstance(fields.files, dict):
        field, paths = "files", list(fields.files)
    elif fields.files is not None:
        field, paths = (
            "files",
            [item["source"] for item in fields.files if isinstance(item.get("source"), str)],
        )
    else:
        field, paths = "mthds_sources", fields.mthds_sources or []
    for path in paths:
        fault = tree_path_fault(path)
        if fault is not None:
            # `!r`: a control character shows as its escape, never raw in the answer.
            raise request_invalid(field=field, reason=f"the path {path[:200]!r} is not a tree path: {fault}.")


def _texts_as_sources(
    field: str, texts: list[str], paths: list[str] | None, settings: ApiSettings
) -> list[BundleSource]:
    if not texts:
        raise request_invalid(field=field, reason="at least one bundle text is required.")
    if len(texts) > settings.max_mthds_files_per_request:
        raise request_too_large(
            detail=f"The request carries {len(texts)} bundle texts; this service accepts at most "
            f"{settings.max_mthds_files_per_request}.",
            field=field,
            limit=settings.max_mthds_files_per_request,
            size=len(texts),
        )
    if paths is not None and len(paths) != len(texts):
        raise request_invalid(
            field="mthds_sources",
            reason=f"it names {len(paths)} paths for {len(texts)} texts of 'mthds_contents'.",
        )
    for index, text in enumerate(texts):
        size = len(text.encode("utf-8"))
        if size > settings.max_mthds_file_bytes:
            raise request_too_large(
                detail=f"Bundle text {index + 1} of '{field}' has {size} bytes; this service accepts at most "
                f"{settings.max_mthds_file_bytes} per bundle.",
                field=field,
                limit=settings.max_mthds_file_bytes,
                size=size,
            )
    chosen = paths if paths is not None else default_bundle_paths(len(texts))
    return [BundleSource(path=path, text=text) for path, text in zip(chosen, texts, strict=True)]
