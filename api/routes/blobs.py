"""Method files by content hash: `POST /v1/blobs/missing` and the signed `PUT /v1/blobs/{sha256}`."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
