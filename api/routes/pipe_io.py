"""`POST /v1/pipe-io`: the inputs and output of a method's pipes, with their forms (reference pipelex-api 0.92.2)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
