"""The request-time check of file input URLs (`api/input_urls.py`): which URLs are walked, how each
scheme is judged, which refusal answers. Names resolve through an injected resolver, never DNS.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest

from api.input_urls import check_input_urls, file_urls
from api.problems import ProblemError
from shared.security.destination import Resolver
from shared.storage.blob_store import LocalBlobStore

PREFIX = "t_" + "a" * 32
DATA_URL = "data:image/png;base64,iVBORw0KGgo="


class FakeDns:
    """Fixed addresses per name; unknown names do not resolve. Remembers what it was asked."""

    def __init__(self, addresses: Mapping[str, Sequence[str]]) -> None:
        self.addresses = addresses
        self.asked: list[str] = []

    async def __call__(self, host: str) -> Sequence[str]:
        self.asked.append(host)
        if host not in self.addresses:
            raise OSError(-2, f"Name or service not known: {host}")
        return self.addresses[host]


DNS = {"files.example": ["93.184.216.34"], "inside.example": ["93.184.216.34", "10.0.0.7"]}


async def check(
    inputs: Mapping[str, Any],
    store: LocalBlobStore,
    *,
    allow_private: bool = False,
    resolver: Resolver | None = None,
) -> None:
    """Run the check as the API does: on an anyio worker thread."""
    call = functools.partial(
        check_input_urls,
        inputs,
        storage_prefix=PREFIX,
        store=store,
        allow_private=allow_private,
        resolver=resolver or FakeDns(DNS),
    )
    await anyio.to_thread.run_sync(call)


async def problem_of(inputs: Mapping[str, Any], store: LocalBlobStore, **options: Any) -> ProblemError:
    with pytest.raises(ProblemError) as caught:
        await check(inputs, store, **options)
    return caught.value


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path)


def test_every_url_of_every_input_is_walked_in_order() -> None:
    inputs = {
        "name": "Ada",
        "photo": {"url": "https://a.example/1.png", "caption": "x"},
        "pages": [{"url": "https://a.example/2.png"}, {"concept": "Image", "content": {"url": "ftp://b/3"}}],
        "nested": {"cover": {"url": DATA_URL}, "url": 42},
        "text": "https://not.a.file.example/",
        "bare": ["pipelex-storage://k/1", {"concept": "Image", "content": "pipelex-storage://k/2"}],
    }
    assert list(file_urls(inputs)) == [
        ("photo", "https://a.example/1.png"),
        ("pages", "https://a.example/2.png"),
        ("pages", "ftp://b/3"),
        ("nested", DATA_URL),
        ("bare", "pipelex-storage://k/1"),
        ("bare", "pipelex-storage://k/2"),
    ]


@pytest.mark.parametrize(
    ("url", "target_class"),
    [
        ("ftp://x/y.pdf", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("javascript:alert(1)", "scheme"),
        ("relative/a.png", "scheme"),
        ("HTTP://files.example/a.png", "scheme"),  # the worker reads only lower-case http(s) prefixes
    ],
)
async def test_other_schemes_are_refused(store: LocalBlobStore, url: str, target_class: str) -> None:
    problem = await problem_of({"doc": {"url": url}}, store)
    assert problem.code == "security.input_url_refused"
    assert problem.params == {"input": "doc", "reason": "scheme_not_allowed", "target_class": target_class}
    assert problem.location == {"field": "inputs"}


async def test_a_public_name_passes_and_a_name_with_one_private_address_does_not(
    store: LocalBlobStore,
) -> None:
    dns = FakeDns(DNS)
    await check(
        {"doc": {"url": "https://files.example/a.pdf"}, "logo": {"url": DATA_URL}}, store, resolver=dns
    )
    assert dns.asked == ["files.example"]
    problem = await problem_of({"doc": {"url": "https://inside.example/a.pdf"}}, store)
    assert problem.params == {"input": "doc", "reason": "host_not_allowed", "target_class": "private"}


async def test_allow_private_lifts_the_address_rule_only(store: LocalBlobStore) -> None:
    inputs = {"doc": {"url": "http://127.0.0.1:9/a.pdf"}, "also": {"url": "https://inside.example/"}}
    await check(inputs, store, allow_private=True)
    problem = await problem_of({"doc": {"url": "gopher://127.0.0.1/"}}, store, allow_private=True)
    assert problem.params["reason"] == "scheme_not_allowed"
    problem = await problem_of({"doc": {"url": "https://nowhere.example/"}}, store, allow_private=True)
    assert problem.params["target_class"] == "unresolvable"


async def test_the_first_refused_url_in_request_order_answers(store: LocalBlobStore) -> None:
    inputs = {
        "first": {"url": "https://files.example/ok.png"},
        "second": [{"url": "https://files.example/ok.png"}, {"url": "http://[::1]/x"}],
        "third": {"url": "ftp://x/y"},
    }
    problem = await problem_of(inputs, store)
    assert problem.params == {"input": "second", "reason": "host_not_allowed", "target_class": "loopback"}


async def test_storage_keys_must_exist_under_the_callers_prefix(store: LocalBlobStore) -> None:
    mine = store.put(f"{PREFIX}/runs/r0/inputs/assets/a.png", b"png", "image/png")
    theirs = store.put("single-tenant/runs/r1/inputs/assets/a.png", b"png", "image/png")
    await check({"photo": {"url": mine}}, store)
    for url in (
        theirs,
        f"pipelex-storage://{PREFIX}/runs/r0/inputs/assets/b.png",
        f"pipelex-storage://{PREFIX}/../single-tenant/runs/r1/inputs/assets/a.png",
        f"pipelex-storage://{PREFIX}//runs/r0/inputs/assets/a.png",
        f"pipelex-storage://{PREFIX}/runs/r0/inputs/assets",  # a folder, not a file
        f"pipelex-storage://{PREFIX}",
        "pipelex-storage://",
    ):
        problem = await problem_of({"photo": {"url": url}}, store)
        assert (problem.code, problem.params) == ("input.reference_not_found", {"input": "photo"}), url
    # A bare string is a file's url when the pipe declares an Image: judged wherever it stands.
    for value in (theirs, [mine, theirs], {"concept": "Image", "content": theirs}):
        problem = await problem_of({"photo": value}, store)
        assert (problem.code, problem.params) == ("input.reference_not_found", {"input": "photo"}), value
    await check({"photo": [mine, {"concept": "Image", "content": mine}], "note": "http://127.0.0.1/"}, store)
