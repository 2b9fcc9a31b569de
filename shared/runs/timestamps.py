"""Timestamps on the wire: RFC 3339, UTC, microseconds, `Z` (http-api.md §1). Pure: callers pass the instant."""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(instant: datetime) -> str:
    # isoformat, not strftime: glibc's `%Y` writes the year 273 as "273", which is no RFC 3339 year.
    return instant.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_rfc3339(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
