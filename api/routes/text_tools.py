"""`POST /v1/lint` and `POST /v1/format` (one bundle text; reference pipelex-api 0.92.2 shapes)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
