"""`POST /v1/resolve` and `POST /v1/codegen` (reference pipelex-api 0.92.2 shapes)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
