"""Method files by content hash: `POST /v1/blobs/missing` and the signed `PUT /v1/blobs/{sha256}` (§11.5).

A client about to send a method tree by hash asks which blobs the service lacks in its scope (the caller's
tenant), uploads each to the signed target the answer names, then sends `{"sha256", "size"}` entries. The
upload is authorized by its target's signature alone (`api.blob_upload`), never by a bearer credential.
Limits are the method tree's of `GET /v1/version`: too many blobs, a blob or the whole past its bytes are
413 `request.too_large`, refused before anything is uploaded. The optional `digest` is checked for its
form only: this service records no tree listings, so each blob is always looked up.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError
from starlette.concurrency import run_in_threadpool

from api.blob_upload import EXPIRES_PARAM, SCOPE_PARAM, SIGNATURE_PARAM, upload_signer, upload_url
from api.deps import CallerDep, SettingsDep, public_origin
from api.method_tree import blob_damaged
from api.openapi_bodies import request_body
from api.problems import ProblemError, request_invalid, request_too_large
from api.request_body import read_json_object
from api.settings import ApiSettings
from shared.problems.catalogue import ProblemCode
from shared.storage.method_blobs import SHA256_HEX, BlobDamagedError, MethodBlobs, sha256_hex

router = APIRouter(tags=["blobs"])

_OCTET_STREAM = "application/octet-stream"
# What a refused upload lacks, as the reference names it in its `auth.forbidden`.
SIGNED_UPLOAD_TARGET = "signed_upload_target"


class BlobRef(BaseModel):
    """A blob: its SHA-256 in lowercase hexadecimal and its length in bytes."""

    model_config = ConfigDict(extra="forbid")

    # Anchored: a pattern matches anywhere in the value (pydantic and JSON Schema alike).
    sha256: str = Field(
        pattern=f"^{SHA256_HEX.pattern}$", description="The SHA-256 of the bytes, lowercase hex."
    )
    size: StrictInt = Field(ge=0, description="The length in bytes, a JSON integer (13.0 is refused).")


class MissingBlobsRequest(BaseModel):
    """The blobs a client is about to send by hash; other members are ignored."""

    model_config = ConfigDict(extra="allow")

    blobs: list[BlobRef] = Field(description="The blobs to check.")
    digest: str | None = Field(
        default=None, pattern=r"^sha256:[0-9a-f]{64}$", description="The tree digest (accepted, not used)."
    )


class UploadTarget(BaseModel):
    method: str = Field(description="PUT.")
    url: str = Field(description="This service's `PUT /v1/blobs/{sha256}` with a signed, expiring query.")
    headers: dict[str, str] = Field(description="The headers to send, exactly.")


class MissingBlob(BaseModel):
    sha256: str
    size: int
    upload: UploadTarget


class MissingBlobsResult(BaseModel):
    """The blobs of the request the service does not hold; empty when there is nothing to upload."""

    missing: list[MissingBlob]


def _parsed(data: dict[str, Any]) -> MissingBlobsRequest:
    try:
        return MissingBlobsRequest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        # The dotted path (`blobs.0.sha256`): the index tells the client which blob.
        field = ".".join(str(part) for part in first["loc"]) or "body"
        raise request_invalid(field=field, reason=f"{first['msg'].lower()}.") from exc


def _sizes(blobs: list[BlobRef], settings: ApiSettings) -> dict[str, int]:
    """Each hash once with its size, within the method tree's limits (413 naming the field)."""
    sizes: dict[str, int] = {}
    for index, blob in enumerate(blobs):
        if sizes.setdefault(blob.sha256, blob.size) != blob.size:
            reason = f"the blob {blob.sha256} is listed with two sizes, {sizes[blob.sha256]} and {blob.size}."
            raise request_invalid(field="blobs", reason=reason)
        if blob.size > settings.max_mthds_file_bytes:
            raise request_too_large(
                detail=f"Blob {index} has {blob.size} bytes; this service accepts at most "
                f"{settings.max_mthds_file_bytes} per file.",
                field=f"blobs.{index}.size",
                limit=settings.max_mthds_file_bytes,
                size=blob.size,
            )
    if len(sizes) > settings.max_bundle_files:
        raise request_too_large(
            detail=f"The request lists {len(sizes)} blobs; a method tree holds at most {settings.max_bundle_files}.",
            field="blobs",
            limit=settings.max_bundle_files,
            size=len(sizes),
        )
    total = sum(sizes.values())
    if total > settings.max_bundle_total_bytes:
        raise request_too_large(
            detail=f"The blobs hold {total} bytes; a method tree holds at most {settings.max_bundle_total_bytes}.",
            field="blobs",
            limit=settings.max_bundle_total_bytes,
            size=total,
        )
    return sizes


_MISSING_BODY = request_body(MissingBlobsRequest)


@router.post(
    "/v1/blobs/missing",
    openapi_extra={"x-mthds-protocol": True, "requestBody": _MISSING_BODY},
    responses={413: {"description": "Past the method tree's limits (request.too_large)."}},
)
async def missing_blobs(request: Request, caller: CallerDep, settings: SettingsDep) -> MissingBlobsResult:
    """Which of these blobs the service lacks in the caller's scope, each with a signed upload target."""
    fields = _parsed(await read_json_object(request))
    sizes = _sizes(fields.blobs, settings)
    blobs = MethodBlobs(settings.blob_store, caller.storage_prefix)
    missing = await run_in_threadpool(blobs.missing, sizes)
    signer, origin, now = upload_signer(settings), public_origin(request, settings), int(time.time())
    return MissingBlobsResult(
        missing=[
            MissingBlob(
                sha256=sha256,
                size=sizes[sha256],
                upload=UploadTarget(
                    method="PUT",
                    url=upload_url(
                        origin,
                        sha256=sha256,
                        query=signer.signed_query(scope=blobs.scope, sha256=sha256, now=now),
                    ),
                    headers={"content-type": _OCTET_STREAM},
                ),
            )
            for sha256 in missing
        ]
    )


def _forbidden() -> ProblemError:
    return ProblemError(
        ProblemCode.AUTH_FORBIDDEN,
        "This upload carries no valid target: ask POST /v1/blobs/missing for one and upload to the URL it "
        "names before it expires.",
        params={"requirement": SIGNED_UPLOAD_TARGET},
    )


async def _bounded_body(request: Request, limit: int) -> bytes:
    """The body, refused (413) once past `limit`: by its declared length before a byte is read, else as read."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _blob_too_large(int(declared), limit)
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise _blob_too_large(received, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _blob_too_large(size: int, limit: int) -> ProblemError:
    return request_too_large(
        detail=f"The blob has at least {size} bytes; this service accepts at most {limit} per method file.",
        field="body",
        limit=limit,
        size=size,
    )


@router.put(
    "/v1/blobs/{sha256}",
    status_code=204,
    response_class=Response,
    openapi_extra={
        "x-mthds-protocol": True,
        "requestBody": {
            "required": True,
            "content": {_OCTET_STREAM: {"schema": {"type": "string", "format": "binary"}}},
        },
    },
    responses={
        403: {"description": "No valid signed target (auth.forbidden)."},
        413: {"description": "Past the per-file limit (request.too_large)."},
    },
)
async def put_blob(
    request: Request,
    settings: SettingsDep,
    sha256: Annotated[str, Path(description="The SHA-256 of the body, lowercase hex.")],
    scope: Annotated[str | None, Query(alias=SCOPE_PARAM)] = None,
    expires: Annotated[str | None, Query(alias=EXPIRES_PARAM)] = None,
    signature: Annotated[str | None, Query(alias=SIGNATURE_PARAM)] = None,
) -> Response:
    """Store one blob's bytes at the signed target `POST /v1/blobs/missing` named (no bearer credential)."""
    if not SHA256_HEX.fullmatch(sha256):
        raise request_invalid(field="sha256", reason="a blob is named by 64 lowercase hexadecimal digits.")
    signer = upload_signer(settings)
    authorized = signer.is_authorized(
        scope=scope, sha256=sha256, expires=expires, signature=signature, now=int(time.time())
    )
    if not authorized or scope is None:
        raise _forbidden()
    data = await _bounded_body(request, settings.max_mthds_file_bytes)
    if sha256_hex(data) != sha256:
        raise request_invalid(
            field="body", reason=f"its SHA-256 is not {sha256}, the path's; nothing was stored."
        )
    try:
        await run_in_threadpool(MethodBlobs(settings.blob_store, scope).put, sha256, data)
    except BlobDamagedError as exc:
        raise blob_damaged(exc) from exc
    return Response(status_code=204)
