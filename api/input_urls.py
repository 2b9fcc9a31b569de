"""File inputs' `url`s at request time (http-api.md §4.3, §4.5 step 7, §10.5): what a run may read.

`http(s)` URLs pass the SSRF rule (resolved within the 2 s DNS budget, every address checked);
`pipelex-storage://` keys must lie under the caller's storage prefix and exist; `data:` URLs are left to
`store_data_urls`; any other scheme is refused. Workers check http(s) URLs again at connection time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import anyio.from_thread

from api.problems import ProblemError
from shared.language.library import Library, PipeEntry
from shared.language.natives import NATIVE_DOMAIN
from shared.problems.catalogue import ProblemCode
from shared.runtime.caller_inputs import CallerInputs
from shared.runtime.data_urls import is_data_url
from shared.runtime.json_values import as_list, as_mapping
from shared.runtime.pipe_contracts import PipeContracts
from shared.runtime.stuff_codes import StuffCodes
from shared.security.address_rules import Refusal, TargetClass, why_refused
from shared.security.destination import DestinationRefused, Resolver, resolve_checked
from shared.storage.blob_store import STORAGE_SCHEME, BlobStore

FIELD = "inputs"
_WEB_SCHEMES = ("http://", "https://")
_FILE_CONCEPTS: Final = frozenset({f"{NATIVE_DOMAIN}.Image", f"{NATIVE_DOMAIN}.Document"})


@dataclass(frozen=True, slots=True)
class FileInputs:
    """The entry pipe of a run, to find its file inputs: there a bare string is the file's url
    (`shared.runtime.caller_inputs`), so it is judged as one."""

    library: Library
    entry: PipeEntry

    def _is_file(self, concept: str) -> bool:
        return not _FILE_CONCEPTS.isdisjoint(self.library.lineage(concept))

    def bare_urls(self, inputs: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
        """`(input name, string)` of every bare string an Image or Document input (or an explicit
        content of such a concept) holds, directly or in a list. Inputs the pipe does not declare
        are refused before this runs (`refuse_unknown_inputs`)."""
        reader = CallerInputs(self.library, StuffCodes(""))
        declared = PipeContracts(self.library).of(self.entry).inputs
        for name, value in reader.named_inputs(self.entry, inputs).items():
            slot = declared.get(name)
            envelope = as_mapping(value)
            if envelope is not None and "concept" in envelope:
                matches = reader.resolve_anywhere(str(envelope.get("concept", "")))
                if len(matches) == 1 and self._is_file(matches[0]):
                    yield from ((name, url) for url in _strings_in(envelope.get("content")))
            elif slot is not None and self._is_file(slot.concept):
                yield from ((name, url) for url in _strings_in(value))


def _strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    for item in as_list(value) or []:
        if isinstance(item, str):
            yield item


def check_input_urls(
    inputs: Mapping[str, Any],
    *,
    storage_prefix: str,
    store: BlobStore,
    allow_private: bool,
    resolver: Resolver | None = None,
    files: FileInputs | None = None,
) -> None:
    """422 for the first refused file URL of `inputs`, in request order, then for bare strings `files` finds.

    Blocking: call it on an anyio worker thread (the API's `run_in_threadpool`). The DNS lookups run on
    the event loop, all at once, so a slow resolver costs one 2 s budget and no stuck thread.
    """
    found = list(dict.fromkeys(file_urls(inputs)))
    if files is not None:
        # After the `url` members, each once: a storage URI a file input holds bare is in both walks.
        found = list(dict.fromkeys([*found, *files.bare_urls(inputs)]))
    web = list(dict.fromkeys(url for _, url in found if url.startswith(_WEB_SCHEMES)))
    refusals: dict[str, Refusal | None] = {}
    if web:
        judged = anyio.from_thread.run(_web_refusals, web, allow_private, resolver)
        refusals = dict(zip(web, judged, strict=True))
    for input_name, url in found:
        if is_data_url(url):
            continue
        if url.startswith(STORAGE_SCHEME):
            if not _stored_for(url.removeprefix(STORAGE_SCHEME), storage_prefix, store):
                raise _reference_not_found(input_name)
            continue
        refusal = refusals.get(url) if url.startswith(_WEB_SCHEMES) else _scheme_refusal(url)
        if refusal is not None:
            raise _url_refused(input_name, refusal)


def file_urls(inputs: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """`(input name, url)` of every string `url` member in `inputs` (the walk of `stored_inputs`), and
    of every other string that is a `pipelex-storage://` URI.

    A bare string becomes a file's `url` when the declared concept is an Image or a Document (directly,
    in a list, as an explicit `content`), and the worker reads stored files without a tenant check: so
    every stored URI is judged, wherever it stands.
    """
    for name, value in inputs.items():
        yield from ((name, url) for url in _urls_in(value, is_url=False))


def _urls_in(value: Any, *, is_url: bool) -> Iterator[str]:
    if isinstance(value, str):
        if is_url or value.startswith(STORAGE_SCHEME):
            yield value
        return
    items = as_list(value)
    if items is not None:
        for item in items:
            yield from _urls_in(item, is_url=False)
        return
    fields = as_mapping(value)
    if fields is not None:
        yield from _urls_in(fields.get("url"), is_url=True)
        for key, item in fields.items():
            if key != "url":
                yield from _urls_in(item, is_url=False)


async def _web_refusals(
    urls: Sequence[str], allow_private: bool, resolver: Resolver | None
) -> list[Refusal | None]:
    return list(await asyncio.gather(*(_refusal_of(url, allow_private, resolver) for url in urls)))


async def _refusal_of(url: str, allow_private: bool, resolver: Resolver | None) -> Refusal | None:
    try:
        await resolve_checked(url, allow_private=allow_private, resolver=resolver)
    except DestinationRefused as refused:
        return refused.refusal
    return None


def _scheme_refusal(url: str) -> Refusal:
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    return Refusal("scheme_not_allowed", TargetClass.SCHEME, scheme)


def _stored_for(key: str, storage_prefix: str, store: BlobStore) -> bool:
    """Whether `key` names a stored file under the caller's prefix (no `.`, `..` or empty segments)."""
    segments = key.split("/")
    if segments[0] != storage_prefix or len(segments) < 2 or "\\" in key:
        return False
    if any(segment in {"", ".", ".."} for segment in segments):
        return False
    return store.exists(key)


def _url_refused(input_name: str, refusal: Refusal) -> ProblemError:
    why = why_refused(refusal, accepted_schemes="http, https, data and pipelex-storage")
    return ProblemError(
        ProblemCode.SECURITY_INPUT_URL_REFUSED,
        f"The URL of input '{input_name}' was refused: {why}.",
        params={"input": input_name, "reason": refusal.reason, "target_class": refusal.target_class.value},
        location={"field": FIELD},
    )


def _reference_not_found(input_name: str) -> ProblemError:
    # One answer for "missing" and "another tenant's": the caller learns nothing about other tenants.
    return ProblemError(
        ProblemCode.INPUT_REFERENCE_NOT_FOUND,
        f"Input '{input_name}' names a stored file that does not exist.",
        params={"input": input_name},
        location={"field": FIELD},
    )
