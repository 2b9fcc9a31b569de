"""Both blob store backends behave alike: the local directory and S3 (moto's server over loopback HTTP,
spoken to by the real boto3 client); `STORAGE` chooses between them, and a run's API and worker share
the S3 store end to end.
"""

from __future__ import annotations

import uuid
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest
from botocore.config import Config
from pydantic import ValidationError

from api.settings import ApiSettings
from shared.storage.blob_store import STORAGE_SCHEME, BlobNotFoundError, BlobStore, LocalBlobStore
from shared.storage.open_store import StorageConfigError, open_blob_store
from shared.storage.s3_store import S3BlobStore
from tests.conftest import S3_TEST_CREDENTIALS, S3_TEST_REGION
from tests.helpers.run_stack import run_stack
from tests.integration.test_runs import GREET
from worker.settings import WorkerSettings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


PREFIX = "deploy/eu"
PAGE_SIZE = 2  # small pages, so listing five objects needs three of them


def s3_client(endpoint_url: str) -> S3Client:
    """A client of the test's own, with the dummy credentials given explicitly."""
    session = boto3.session.Session(
        aws_access_key_id=S3_TEST_CREDENTIALS["aws_access_key_id"],
        aws_secret_access_key=S3_TEST_CREDENTIALS["aws_secret_access_key"],
        region_name=S3_TEST_REGION,
    )
    client: S3Client = session.client(  # pyright: ignore[reportUnknownMemberType] -- only s3 is stubbed
        "s3",
        endpoint_url=endpoint_url,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    return client


@pytest.fixture
def s3_bucket(s3_server: str) -> Generator[str]:
    """A fresh bucket on the moto server, emptied and removed afterwards."""
    client = s3_client(s3_server)
    name = f"test-{uuid.uuid4().hex[:20]}"
    client.create_bucket(Bucket=name)
    try:
        yield name
    finally:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
            for item in page.get("Contents", []):
                client.delete_object(Bucket=name, Key=item.get("Key", ""))
        client.delete_bucket(Bucket=name)


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "storage")
    endpoint: str = request.getfixturevalue("s3_server")
    bucket: str = request.getfixturevalue("s3_bucket")
    return S3BlobStore(s3_client(endpoint), bucket, PREFIX, page_size=PAGE_SIZE)


def fetch(url: str) -> httpx.Response:
    """What a reader outside the service gets from a public URL (a file, or moto on loopback)."""
    scheme = urlsplit(url).scheme
    if scheme == "file":
        return httpx.Response(200, content=Path(urlsplit(url).path).read_bytes())
    assert urlsplit(url).hostname == "127.0.0.1"
    return httpx.get(url, timeout=10)


def test_put_answers_the_uri_that_get_reads(store: BlobStore) -> None:
    uri = store.put("t_1/runs/r1/output.json", b'{"a": 1}', "application/json")
    assert uri == f"{STORAGE_SCHEME}t_1/runs/r1/output.json"
    assert store.get(uri) == b'{"a": 1}'
    store.put("t_1/runs/r1/output.json", b'{"a": 2}', "application/json")
    assert store.get(uri) == b'{"a": 2}'


def test_exists_tells_stored_keys_only(store: BlobStore) -> None:
    store.put("methods/abc.json", b"[]", "application/json")
    assert store.exists("methods/abc.json")
    assert not store.exists("methods/abc.jso")
    assert not store.exists("methods")  # a folder is not a blob
    assert not store.exists("methods/other.json")


def test_list_walks_one_folder_across_pages(store: BlobStore) -> None:
    names = [f"t_1/runs/r1/deliveries/w/attempt-{n:05d}.json" for n in range(5)]
    for name in names:
        store.put(name, name.encode(), "application/json")
    # Neighbours whose keys share the folder's text but are not inside it.
    store.put("t_1/runs/r10/output.json", b"x", "application/json")
    store.put("t_1/runs/r1-copy/output.json", b"x", "application/json")
    expected = [f"{STORAGE_SCHEME}{name}" for name in names]
    assert store.list("t_1/runs/r1/deliveries/w/") == expected
    assert store.list("t_1/runs/r1/deliveries/w") == expected
    assert store.list("t_1/runs/r1/") == expected
    assert [store.get(uri) for uri in store.list("t_1/runs/r1/")] == [name.encode() for name in names]
    assert store.list("t_1/runs/r2/") == []


def test_delete_prefix_removes_one_folder_and_nothing_beside_it(store: BlobStore) -> None:
    inside = [f"t_1/runs/r1/inputs/stored/n1/list/page-{n:05d}.json" for n in range(3)]
    for name in [*inside, "t_1/runs/r1/inputs/stored/n1/text.json"]:
        store.put(name, b"x", "application/json")
    beside = ["t_1/runs/r1/inputs/stored/n10/text.json", "t_1/runs/r1/inputs/photo.png"]
    for name in beside:
        store.put(name, b"y", "application/json")
    assert store.delete_prefix("t_1/runs/r1/inputs/stored/n1/") == 4
    assert store.list("t_1/runs/r1/inputs/stored/n1/") == []
    assert all(store.exists(name) for name in beside)
    assert store.delete_prefix("t_1/runs/r1/inputs/stored/n1") == 0  # gone already: nothing to do
    assert store.delete_prefix("../outside") == 0


def test_missing_and_foreign_uris_are_not_found(store: BlobStore) -> None:
    store.put("a/b.txt", b"b", "text/plain")
    for uri in (
        f"{STORAGE_SCHEME}a/c.txt",
        f"{STORAGE_SCHEME}a",
        "https://example.com/a/b.txt",
        "a/b.txt",
        f"{STORAGE_SCHEME}../a/b.txt",
        f"{STORAGE_SCHEME}/a/b.txt",
        STORAGE_SCHEME,
    ):
        with pytest.raises(BlobNotFoundError):
            store.get(uri)


@pytest.mark.parametrize("key", ["", "/abs/x.txt", "../escape.txt", "a/../../escape.txt"])
def test_keys_that_leave_the_store_are_refused(store: BlobStore, key: str) -> None:
    with pytest.raises(ValueError, match="not a relative path inside the store"):
        store.put(key, b"x", "text/plain")
    assert not store.exists(key)
    assert store.list(key) == []


def test_public_url_opens_the_blob_from_outside(store: BlobStore) -> None:
    uri = store.put("t_1/runs/r1/files/notice.txt", b"Bonjour", "text/plain")
    url = store.public_url(uri)
    assert url is not None
    response = fetch(url)
    assert response.status_code == 200
    assert response.content == b"Bonjour"
    assert store.public_url("https://example.com/notice.txt") is None


def test_s3_objects_live_under_the_prefix_with_their_type(s3_server: str, s3_bucket: str) -> None:
    client = s3_client(s3_server)
    store = S3BlobStore(client, s3_bucket, f"/{PREFIX}/")
    uri = store.put("t_1/runs/r1/files/notice.pdf", b"%PDF-1.4", "application/pdf")
    assert uri == f"{STORAGE_SCHEME}t_1/runs/r1/files/notice.pdf"
    keys = [item.get("Key") for item in client.list_objects_v2(Bucket=s3_bucket).get("Contents", [])]
    assert keys == [f"{PREFIX}/t_1/runs/r1/files/notice.pdf"]
    head = client.head_object(Bucket=s3_bucket, Key=f"{PREFIX}/t_1/runs/r1/files/notice.pdf")
    assert head["ContentType"] == "application/pdf"
    url = store.public_url(uri)
    assert url is not None
    response = fetch(url)
    assert response.headers["content-type"] == "application/pdf"
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["3600"]  # one hour by default


def test_s3_presigned_urls_expire_as_configured(s3_server: str, s3_bucket: str) -> None:
    store = S3BlobStore(s3_client(s3_server), s3_bucket, url_expiry_seconds=60)
    uri = store.put("x.txt", b"x", "text/plain")
    url = store.public_url(uri)
    assert url is not None
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["60"]
    assert urlsplit(url).path == f"/{s3_bucket}/x.txt"  # no prefix: keys at the bucket's root


def test_open_blob_store_chooses_local_for_paths(tmp_path: Path) -> None:
    default = open_blob_store(None, tmp_path, s3_endpoint_url=None)
    assert isinstance(default, LocalBlobStore)
    assert default.root == (tmp_path / "storage").resolve()
    for storage in (str(tmp_path / "blobs"), f"file://{tmp_path / 'blobs'}"):
        chosen = open_blob_store(storage, tmp_path, s3_endpoint_url=None)
        assert isinstance(chosen, LocalBlobStore)
        assert chosen.root == (tmp_path / "blobs").resolve()


def test_open_blob_store_chooses_s3_for_s3_urls(s3_server: str, s3_bucket: str, tmp_path: Path) -> None:
    chosen = open_blob_store(f"s3://{s3_bucket}/{PREFIX}/", tmp_path, s3_endpoint_url=s3_server)
    assert isinstance(chosen, S3BlobStore)
    assert (chosen.bucket, chosen.prefix) == (s3_bucket, PREFIX)
    # Credentials from the standard chain (the environment here), the endpoint from the setting.
    uri = chosen.put("hello.txt", b"hello", "text/plain")
    stored = s3_client(s3_server).get_object(Bucket=s3_bucket, Key=f"{PREFIX}/hello.txt")
    assert stored["Body"].read() == b"hello"
    assert chosen.get(uri) == b"hello"
    bare = open_blob_store(f"s3://{s3_bucket}", tmp_path, s3_endpoint_url=s3_server)
    assert isinstance(bare, S3BlobStore)
    assert bare.prefix == ""
    assert bare.get(f"{STORAGE_SCHEME}{PREFIX}/hello.txt") == b"hello"
    assert not (tmp_path / "storage").exists()


@pytest.mark.parametrize(
    ("storage", "reason"),
    [
        ("gs://bucket/prefix", "unknown scheme 'gs://'"),
        ("https://bucket.example/prefix", "unknown scheme 'https://'"),
        ("s3://", "valid bucket name"),
        ("s3:bucket/prefix", "valid bucket name"),
        ("s3://Bad_Bucket/prefix", "valid bucket name"),
        ("s3://ab/prefix", "valid bucket name"),
        ("s3://bucket/a/../b", "key prefix"),
        ("s3://bucket/a//b", "key prefix"),
        ("s3://bucket/prefix?versionId=1", "no query or fragment"),
    ],
)
def test_unusable_storage_is_refused_naming_the_variable(storage: str, reason: str, tmp_path: Path) -> None:
    with pytest.raises(StorageConfigError, match=f"^STORAGE: .*{reason}") as caught:
        open_blob_store(storage, tmp_path, s3_endpoint_url=None)
    assert caught.value.variable == "STORAGE"
    with pytest.raises(ValidationError, match=reason):
        ApiSettings(storage=storage)
    with pytest.raises(ValidationError, match=reason):
        WorkerSettings(storage=storage)


@pytest.mark.parametrize("endpoint", ["localhost:9000", "ftp://minio.local", "http://"])
def test_unusable_endpoint_is_refused_naming_the_variable(endpoint: str, tmp_path: Path) -> None:
    with pytest.raises(StorageConfigError, match=r"^STORAGE_S3_ENDPOINT_URL: give an http\(s\)"):
        open_blob_store("s3://bucket/prefix", tmp_path, s3_endpoint_url=endpoint)
    with pytest.raises(ValidationError, match=r"give an http\(s\)://"):
        WorkerSettings(storage_s3_endpoint_url=endpoint)


def test_settings_open_their_store_once(tmp_path: Path) -> None:
    api = ApiSettings(data_dir=tmp_path)
    worker = WorkerSettings(data_dir=tmp_path, storage=str(tmp_path / "elsewhere"))
    assert api.blob_store is api.blob_store
    assert worker.blob_store is worker.blob_store
    assert isinstance(api.blob_store, LocalBlobStore)
    assert api.blob_store.root == (tmp_path / "storage").resolve()
    assert isinstance(worker.blob_store, LocalBlobStore)
    assert worker.blob_store.root == (tmp_path / "elsewhere").resolve()


async def test_a_run_shares_the_s3_store_between_api_and_worker(
    temporal_address: str, s3_server: str, s3_bucket: str, tmp_path: Path
) -> None:
    storage = {"storage": f"s3://{s3_bucket}/{PREFIX}", "storage_s3_endpoint_url": s3_server}
    async with run_stack(
        temporal_address,
        tmp_path,
        api_overrides=storage,
        worker_overrides={**storage, "output_inline_max_kib": 1},
    ) as stack:
        name = "Ada" * 700  # the final working memory is over 1 KiB: the worker stores it
        body = {"mthds_contents": [GREET], "inputs": {"name": name}, "pipeline_run_id": "run-s3-1"}
        started = await stack.client.post("/v1/start", json=body)
        assert started.status_code == 202, started.text
        final = await stack.wait_for_end("run-s3-1")
        assert final["state"] == "COMPLETED", final
        results = await stack.client.get("/v1/runs/run-s3-1/results")
        assert results.status_code == 200, results.text
        root = results.json()["working_memory"]["root"]
        assert root["wrapped"]["content"] == {"text": f">> Hello, {name}! <<"}
    client = s3_client(s3_server)
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=s3_bucket)
    keys = [item.get("Key", "") for page in pages for item in page.get("Contents", [])]
    # The API stored the method the worker ran; the worker stored the output the API answered.
    assert any(key.startswith(f"{PREFIX}/methods/") for key in keys), keys
    assert f"{PREFIX}/single-tenant/runs/run-s3-1/working_memory.json" in keys, keys
    assert all(key.startswith(f"{PREFIX}/") for key in keys), keys
    assert not (tmp_path / "storage").exists()


def test_a_local_store_refuses_symbolic_links_even_ones_known_before(tmp_path: Path) -> None:
    """The local store checks keys lexically and remembers folders it saw to be real directories
    (resolving every path was most of a resume's reading time); a link is refused wherever it points,
    and a folder removed and planted again as a link is not trusted from memory."""
    store = LocalBlobStore(tmp_path / "storage")
    store.put("t_1/memo/k1/r1.json", b"{}", "application/json")
    assert store.get(f"{STORAGE_SCHEME}t_1/memo/k1/r1.json") == b"{}"
    assert store.get(f"{STORAGE_SCHEME}t_1/./memo/../memo/k1/r1.json") == b"{}"  # lexical steps inside

    (tmp_path / "storage" / "t_1" / "inside").symlink_to(tmp_path / "storage" / "t_1" / "memo")
    with pytest.raises(BlobNotFoundError):
        store.get(f"{STORAGE_SCHEME}t_1/inside/k1/r1.json")  # a link, though its target is in the store
    (tmp_path / "storage" / "t_1" / "memo" / "k1" / "r9.json").symlink_to(
        tmp_path / "storage" / "t_1" / "memo" / "k1" / "r1.json"
    )
    with pytest.raises(BlobNotFoundError):
        store.get(f"{STORAGE_SCHEME}t_1/memo/k1/r9.json")  # a link to a file, in the last place
    assert not store.exists("t_1/memo/k1/r9.json")

    assert store.delete_prefix("t_1/memo/") == 2  # the entry and the link to it
    outside = tmp_path / "outside"
    (outside / "k1").mkdir(parents=True)
    (outside / "k1" / "r1.json").write_bytes(b"secret")
    (tmp_path / "storage" / "t_1" / "memo").symlink_to(outside, target_is_directory=True)
    with pytest.raises(BlobNotFoundError):
        store.get(f"{STORAGE_SCHEME}t_1/memo/k1/r1.json")
    assert not store.exists("t_1/memo/k1/r1.json")
    with pytest.raises(ValueError, match="not a relative path inside the store"):
        store.put("t_1/memo/k1/r2.json", b"x", "application/json")
    assert sorted(path.name for path in (outside / "k1").iterdir()) == ["r1.json"]
