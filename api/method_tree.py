"""The `files` member of a request: a method tree of inline and hash entries, read into bundle sources (§4.1).

Limits are those `GET /v1/version` advertises as `limits.method_tree` (§3): entries, bytes per file,
decoded bytes in all. Sizes are judged before decoding wherever the encoded form tells them, and before
any blob is read for hash entries (their stated sizes count). Hash entries are read from the caller's
method blobs (`shared.storage.method_blobs`); every hash not held there is named in one 422
`request.blobs_missing`.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, cast

from api.problems import ProblemError, request_invalid, request_too_large
from api.settings import ApiSettings
from shared.language.report import BundleSource
from shared.problems.catalogue import ProblemCode
from shared.storage.method_blobs import BlobDamagedError, MethodBlobReader

_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def _shown(path: str) -> str:
    # Paths are the caller's text: quote enough to find the file, never an unbounded echo.
    return path if len(path) <= 200 else f"{path[:200]}..."


def default_bundle_paths(count: int) -> list[str]:
    """Logical paths of unnamed bundle texts: `bundle.mthds` alone, else `bundle_1.mthds`, `bundle_2.mthds`..."""
    if count == 1:
        return ["bundle.mthds"]
    return [f"bundle_{index}.mthds" for index in range(1, count + 1)]


def _tree_entries(
    files: dict[str, str | dict[str, Any]] | list[dict[str, Any]],
) -> list[tuple[str, object, bool]]:
    """`(path, entry, is_bundle)` for each entry of the tree."""
    if isinstance(files, dict):
        return [(path, entry, path.endswith(".mthds")) for path, entry in files.items()]
    # v0.16 list form [{"content": text, "source": path}]: its items are bundles whatever their
    # extension (that era named them `.plx`), except Python code.
    entries: list[tuple[str, object, bool]] = []
    for item, default_path in zip(files, default_bundle_paths(len(files)), strict=True):
        content, source = item.get("content"), item.get("source")
        if not isinstance(content, str) or not (source is None or isinstance(source, str)):
            raise request_invalid(
                field="files", reason="each list item must be {'content': text, 'source': path}."
            )
        path = source or default_path
        entries.append((path, content, not path.endswith(".py")))
    return entries


def _blob_reference(path: str, entry: dict[str, Any]) -> dict[str, Any]:
    sha256, size = entry.get("sha256"), entry.get("size")
    if set(entry) != {"sha256", "size"} or not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise request_invalid(
            field="files", reason=f"the entry '{_shown(path)}' is not a {{'sha256', 'size'}} reference."
        )
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise request_invalid(field="files", reason=f"the entry '{_shown(path)}' has no valid 'size'.")
    return {"path": path, "sha256": sha256.lower(), "size": size}


def _decoded_base64(path: str, entry: dict[str, Any], max_file_bytes: int) -> bytes:
    encoded = entry.get("base64")
    if set(entry) != {"base64"} or not isinstance(encoded, str):
        raise request_invalid(
            field="files", reason=f"the entry '{_shown(path)}' is not a {{'base64': text}} entry."
        )
    # The decoded size follows from the text's length and padding: refuse before allocating it.
    decoded_size = len(encoded) // 4 * 3 - min(len(encoded) - len(encoded.rstrip("=")), 2)
    if decoded_size > max_file_bytes:
        raise _file_too_large(path, decoded_size, max_file_bytes)
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise request_invalid(
            field="files", reason=f"the entry '{_shown(path)}' is not valid base64."
        ) from exc
    if base64.b64encode(data).decode("ascii") != encoded:
        raise request_invalid(
            field="files", reason=f"the entry '{_shown(path)}' is not canonical padded base64."
        )
    return data


def _file_too_large(path: str, size: int, limit: int) -> ProblemError:
    return request_too_large(
        detail=f"The file '{_shown(path)}' has {size} bytes; this service accepts at most {limit} per file.",
        field="files",
        limit=limit,
        size=size,
    )


def blob_damaged(exc: BlobDamagedError) -> ProblemError:
    """500: the object held under a hash is not that hash's bytes; the operator must remove it."""
    return ProblemError(
        ProblemCode.RUNTIME_UNEXPECTED,
        f"The stored method file {exc.sha256} is damaged; the service's operator must remove it, then it "
        "can be uploaded again.",
        params={"sha256": exc.sha256},
    )


def _blobs_missing(hashes: list[str], *, has_store: bool) -> ProblemError:
    # Without a store (a route that reads no blobs), every hash is missing alike.
    where = "this service does not hold for you" if has_store else "this route does not read"
    return ProblemError(
        ProblemCode.REQUEST_BLOBS_MISSING,
        f"The method tree names {len(hashes)} file(s) by hash that {where}: upload them "
        "(POST /v1/blobs/missing, then PUT each to the URL it names) and send the request again.",
        params={"missing_blobs": hashes},
        location={"field": "files"},
    )


def _read_blobs(references: list[dict[str, Any]], blobs: MethodBlobReader | None) -> dict[str, bytes]:
    """The bytes of every referenced hash, each checked against its stated size; one 422 naming every
    hash not held (sorted), before anything else is done with the tree."""
    held: dict[str, bytes] = {}
    missing: set[str] = set()
    for reference in references:
        sha256 = reference["sha256"]
        if sha256 in held or sha256 in missing:
            continue
        try:
            data = None if blobs is None else blobs.read(sha256)
        except BlobDamagedError as exc:
            raise blob_damaged(exc) from exc
        if data is None:
            missing.add(sha256)
        else:
            held[sha256] = data
    if missing:
        raise _blobs_missing(sorted(missing), has_store=blobs is not None)
    for reference in references:
        size, actual = reference["size"], len(held[reference["sha256"]])
        if size != actual:
            # Uploading again would change nothing: the entry itself is wrong.
            raise request_invalid(
                field="files",
                reason=f"the entry '{_shown(reference['path'])}' states {size} bytes; the file of that hash has {actual}.",
            )
    return held


def tree_bundle_sources(
    files: dict[str, str | dict[str, Any]] | list[dict[str, Any]],
    settings: ApiSettings,
    *,
    refuse_custom_code: bool,
    blobs: MethodBlobReader | None = None,
) -> list[BundleSource]:
    """The `.mthds` files of the tree as sources; 413/422/501 `ProblemError` for an unusable tree.

    `blobs`: the caller's method blobs, where hash entries are read; None answers every hash entry
    as missing. Synchronous: on an event loop, call it through a thread when `blobs` may do I/O.
    """
    entries = _tree_entries(files)
    if len(entries) > settings.max_bundle_files:
        raise request_too_large(
            detail=f"The method tree has {len(entries)} files; this service accepts at most {settings.max_bundle_files}.",
            field="files",
            limit=settings.max_bundle_files,
            size=len(entries),
        )
    contents: list[tuple[str, str | bytes | dict[str, Any], bool]] = []
    references: list[dict[str, Any]] = []
    total = 0
    for path, entry, is_bundle in entries:
        content: str | bytes | dict[str, Any]
        if isinstance(entry, str):
            content = entry
        elif isinstance(entry, dict) and "sha256" in entry:
            content = _blob_reference(path, cast(dict[str, Any], entry))
            references.append(content)
        elif isinstance(entry, dict) and "base64" in entry:
            content = _decoded_base64(path, cast(dict[str, Any], entry), settings.max_mthds_file_bytes)
        else:
            raise request_invalid(
                field="files",
                reason=f"the entry '{_shown(path)}' is neither text, {{'base64'}} nor {{'sha256', 'size'}}.",
            )
        size = _size_of(content)
        if size > settings.max_mthds_file_bytes:
            raise _file_too_large(path, size, settings.max_mthds_file_bytes)
        total += size
        if total > settings.max_bundle_total_bytes:
            raise request_too_large(
                detail=f"The method tree holds more than {settings.max_bundle_total_bytes} decoded bytes.",
                field="files",
                limit=settings.max_bundle_total_bytes,
                size=total,
            )
        contents.append((path, content, is_bundle))
    held = _read_blobs(references, blobs) if references else {}
    read = [
        (path, held[content["sha256"]] if isinstance(content, dict) else content, is_bundle)
        for path, content, is_bundle in contents
    ]
    code_files = [path for path, _, _ in read if path.endswith(".py")]
    if code_files and refuse_custom_code:
        raise ProblemError(
            ProblemCode.PIPELEX_CUSTOM_CODE_REQUIRES_SANDBOX,
            f"The method tree holds Python code ('{_shown(code_files[0])}'), which this service does not run.",
            params={"origin": "bundle"},
        )
    bundles = [(path, content) for path, content, is_bundle in read if is_bundle]
    if not bundles:
        raise request_invalid(field="files", reason="the method tree holds no '.mthds' file.")
    return [BundleSource(path=path, text=_as_text(path, content)) for path, content in bundles]


def _size_of(content: str | bytes | dict[str, Any]) -> int:
    """Bytes of an entry: a hash entry counts the size it states (its blob is read only within limits)."""
    if isinstance(content, dict):
        size: int = content["size"]
        return size
    return len(content.encode("utf-8")) if isinstance(content, str) else len(content)


def _as_text(path: str, content: str | bytes) -> str:
    if isinstance(content, str):
        return content
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise request_invalid(
            field="files", reason=f"the bundle '{_shown(path)}' is not UTF-8 text."
        ) from exc
