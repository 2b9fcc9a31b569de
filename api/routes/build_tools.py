"""`POST /v1/build/inputs`, `/v1/build/output`, `/v1/build/runner` and their legacy aliases (http-api.md §11.2 to §11.4, §12)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
