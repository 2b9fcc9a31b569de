"""`POST /v1/build/pipeline` (and the legacy `/api/v1/pipe-builder/build`): a brief becomes a validated bundle, on Temporal."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
