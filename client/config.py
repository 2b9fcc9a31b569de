"""Where the client finds the service and its credential: constructor arguments first, then the
environment (`METHODFLOW_URL`, `METHODFLOW_API_KEY`), then the service's default local address.
"""

from __future__ import annotations

import os

DEFAULT_URL = "http://127.0.0.1:8081"
URL_VARIABLE = "METHODFLOW_URL"
KEY_VARIABLE = "METHODFLOW_API_KEY"


def base_url(given: str | None) -> str:
    return (given or os.environ.get(URL_VARIABLE) or DEFAULT_URL).rstrip("/")


def auth_headers(api_key: str | None) -> dict[str, str]:
    """`Authorization: Bearer <key or JWT>`, the only credential the service reads; none when unset."""
    key = api_key or os.environ.get(KEY_VARIABLE)
    return {"Authorization": f"Bearer {key}"} if key else {}
