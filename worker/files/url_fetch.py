"""Fetching an http(s) input file through the SSRF guard (http-api.md §4.3, §10.5).

Every hop is resolved, checked and pinned (`shared/security/destination.py`), redirects are followed by
hand (at most `MAX_REDIRECTS`, each checked again), and the body is streamed and cut at `max_bytes`, so a
huge answer never sits in memory. `timeout_seconds` bounds the whole fetch, redirects and body included.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from typing import Final, NoReturn
from urllib.parse import urljoin

import certifi
import httpx

from shared.runtime.run_failure import FailureCode, PipeRunError
from shared.security.address_rules import TargetClass
from shared.security.destination import (
    CheckedDestination,
    DestinationRefused,
    Resolver,
    pinned_request_args,
    resolve_checked,
)

MAX_REDIRECTS: Final = 5
USER_AGENT: Final = "methodflow/0.1.0"
_URL_IN_PARAMS: Final = 256
_REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
# Client errors a later attempt may get past; every other 4xx fails the same way each time.
_RETRYABLE_CLIENT_ERRORS: Final = frozenset({408, 425, 429})


async def fetch_url(
    url: str,
    *,
    input_name: str,
    max_bytes: int,
    allow_private: bool,
    timeout_seconds: float,
    resolver: Resolver | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> tuple[bytes, str | None]:
    """The body and Content-Type (without parameters) of `url`; typed `PipeRunError`s for every failure.

    `resolver` (default: the system's) and `transport` (default: a fresh TLS-verifying connection pool per
    hop) exist for tests that reach a loopback server under a public name.
    """
    fetch = _Fetch(url, input_name, max_bytes, allow_private, timeout_seconds, resolver, transport)
    try:
        async with asyncio.timeout(timeout_seconds):
            return await fetch.run()
    except TimeoutError as exc:
        raise fetch.unreachable(fetch.current, "timeout", retryable=True) from exc


class _Fetch:
    """One fetch, hop by hop; `current` is the URL being requested."""

    def __init__(
        self,
        url: str,
        input_name: str,
        max_bytes: int,
        allow_private: bool,
        timeout_seconds: float,
        resolver: Resolver | None,
        transport: httpx.AsyncBaseTransport | None,
    ) -> None:
        self.current = url
        self.input_name = input_name
        self.max_bytes = max_bytes
        self.allow_private = allow_private
        self.timeout_seconds = timeout_seconds
        self.resolver = resolver
        self.transport = transport

    async def run(self) -> tuple[bytes, str | None]:
        for _ in range(MAX_REDIRECTS + 1):
            destination = await self._checked(self.current)
            answer = await self._hop(destination)
            if isinstance(answer, str):
                self.current = answer
                continue
            return answer
        raise PipeRunError(
            FailureCode.FILE_URL_UNREACHABLE,
            f"input '{self.input_name}': more than {MAX_REDIRECTS} redirects, stopped at '{self._shown()}'",
            params={"input": self.input_name, "url": self._shown(), "reason": "too_many_redirects"},
        )

    async def _checked(self, url: str) -> CheckedDestination:
        try:
            return await resolve_checked(url, allow_private=self.allow_private, resolver=self.resolver)
        except DestinationRefused as refused:
            refusal = refused.refusal
            if refusal.target_class == TargetClass.UNRESOLVABLE:  # DNS may answer on a later attempt
                raise self.unreachable(url, "unresolvable", retryable=True) from refused
            raise PipeRunError(
                FailureCode.FILE_URL_REFUSED,
                f"input '{self.input_name}': the URL '{_truncated(url)}' was refused "
                f"({refusal.reason}, {refusal.target_class})",
                params={
                    "input": self.input_name,
                    "reason": refusal.reason,
                    "target_class": refusal.target_class.value,
                },
            ) from refused

    async def _hop(self, destination: CheckedDestination) -> tuple[bytes, str | None] | str:
        """The body and type, or the URL a redirect points to."""
        pinned, headers, extensions = pinned_request_args(destination, self.current)
        headers = {**headers, "User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
        try:
            # A client per hop: httpx pools by (scheme, address, port), and a pooled TLS connection verified
            # for one name must not carry another name's request.
            async with (
                httpx.AsyncClient(
                    timeout=self.timeout_seconds,
                    follow_redirects=False,
                    trust_env=False,
                    verify=_tls_context(),
                    transport=self.transport,
                ) as client,
                client.stream("GET", pinned, headers=headers, extensions=extensions) as response,
            ):
                location = response.headers.get("location")
                if response.status_code in _REDIRECT_STATUSES and location:
                    return urljoin(self.current, location)
                if not response.is_success:
                    self._refuse_status(response.status_code)
                return await self._body(response)
        except httpx.TimeoutException as exc:
            raise self.unreachable(self.current, "timeout", retryable=True) from exc
        except httpx.ConnectError as exc:  # refused connections, TLS failures
            raise self.unreachable(self.current, "connect_error", retryable=True) from exc
        except httpx.HTTPError as exc:  # reset connections, broken answers
            raise self.unreachable(self.current, "transfer_error", retryable=True) from exc

    def _refuse_status(self, status: int) -> NoReturn:
        retryable = status >= 500 or status in _RETRYABLE_CLIENT_ERRORS
        raise PipeRunError(
            FailureCode.FILE_URL_UNREACHABLE,
            f"input '{self.input_name}': '{self._shown()}' answered HTTP {status}",
            retryable=retryable,
            params={"input": self.input_name, "url": self._shown(), "status": status},
        )

    async def _body(self, response: httpx.Response) -> tuple[bytes, str | None]:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise self._too_large(int(declared))
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body.extend(chunk)
            if len(body) > self.max_bytes:
                raise self._too_large(None)
        content_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        return bytes(body), content_type or None

    def _too_large(self, size: int | None) -> PipeRunError:
        over = f"{size} bytes" if size is not None else "more bytes than that"
        return PipeRunError(
            FailureCode.FILE_TOO_LARGE,
            f"input '{self.input_name}': a file may have {self.max_bytes} bytes and "
            f"'{self._shown()}' holds {over}",
            params={"input": self.input_name, "limit": self.max_bytes}
            | ({"size": size} if size is not None else {}),
        )

    def unreachable(self, url: str, reason: str, *, retryable: bool) -> PipeRunError:
        return PipeRunError(
            FailureCode.FILE_URL_UNREACHABLE,
            f"input '{self.input_name}': '{_truncated(url)}' could not be downloaded ({reason})",
            retryable=retryable,
            params={"input": self.input_name, "url": _truncated(url), "reason": reason},
        )

    def _shown(self) -> str:
        return _truncated(self.current)


def _truncated(url: str) -> str:
    return url if len(url) <= _URL_IN_PARAMS else f"{url[: _URL_IN_PARAMS - 3]}..."


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One context for every fetch: loading the CA bundle costs tens of milliseconds."""
    return ssl.create_default_context(cafile=certifi.where())
