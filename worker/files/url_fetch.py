"""Fetching an http(s) input file through the SSRF guard (http-api.md §4.3, §10.5)."""

from __future__ import annotations

from shared.runtime.run_failure import FailureCode, PipeRunError


async def fetch_url(
    url: str, *, input_name: str, max_bytes: int, allow_private: bool, timeout_seconds: float
) -> tuple[bytes, str | None]:
    """The body and Content-Type of `url`; typed `PipeRunError`s for every failure."""
    raise PipeRunError(
        FailureCode.FILE_URL_UNREACHABLE,
        f"input '{input_name}': fetching http(s) URLs is not implemented yet ({url[:64]})",
        params={
            "input": input_name,
            "max_bytes": max_bytes,
            "allow_private": allow_private,
            "timeout": timeout_seconds,
        },
    )
