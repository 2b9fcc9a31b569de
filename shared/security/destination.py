"""The SSRF guard at connection time (http-api.md §10.5): resolve a URL's host, check every address, pin one.

Impure (DNS), so outside the workflow sandbox: the API calls it at request time, workers before each
connection. Connecting to the checked address rather than the name defeats DNS rebinding.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from ipaddress import IPv6Address, ip_address
from urllib.parse import urlunsplit

from shared.security.address_rules import (
    ALLOWED_SCHEMES,
    Refusal,
    TargetClass,
    TargetUrl,
    addresses_problem,
    parse_target,
    refused_host_name,
)

Resolver = Callable[[str], Awaitable[Sequence[str]]]
"""A host name → its A and AAAA addresses; raises `OSError` when the name does not resolve."""

RESOLVE_TIMEOUT_SECONDS = 2.0


class DestinationRefused(Exception):
    """The guard refused a URL; `refusal` holds the problem's `reason` and `target_class`."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(f"{refusal.subject}: {refusal.reason} ({refusal.target_class})")
        self.refusal = refusal


@dataclass(frozen=True, slots=True)
class CheckedDestination:
    """Where a checked URL may be reached: `ip` is the address to connect to, `addresses` all that were checked."""

    target: TargetUrl
    ip: str
    addresses: tuple[str, ...]

    @property
    def scheme(self) -> str:
        return self.target.scheme

    @property
    def host(self) -> str:
        return self.target.host

    @property
    def port(self) -> int:
        return self.target.port


async def system_resolver(host: str) -> list[str]:
    """The host's addresses from the system resolver (A and AAAA), in its order of preference, deduplicated."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def resolve_checked(
    url: str,
    *,
    allow_private: bool,
    resolver: Resolver | None = None,
    timeout: float = RESOLVE_TIMEOUT_SECONDS,  # noqa: ASYNC109 -- the DNS budget of §10.5, not the call's deadline
) -> CheckedDestination:
    """The checked destination of `url`, or `DestinationRefused`.

    Refused: a scheme other than http(s), userinfo, a refused host name, a name that does not resolve
    within `timeout`, and a host any of whose addresses is refused. `allow_private` lifts the name and
    address rules only.
    """
    target = parse_target(url)
    if isinstance(target, Refusal):
        raise DestinationRefused(target)
    named = None if allow_private else refused_host_name(target.host)
    if named is not None:
        raise DestinationRefused(Refusal("host_not_allowed", named, target.host))
    if target.literal is not None:
        addresses = [target.host]
    else:
        addresses = await _resolve(target.host, resolver or system_resolver, timeout)
    if not allow_private:
        problem = addresses_problem(target.host, addresses)
        if problem is not None:
            raise DestinationRefused(problem)
    return CheckedDestination(target, addresses[0], tuple(addresses))


async def _resolve(host: str, resolver: Resolver, budget: float) -> list[str]:
    unresolvable = DestinationRefused(Refusal("host_not_allowed", TargetClass.UNRESOLVABLE, host))
    try:
        async with asyncio.timeout(budget):
            addresses = list(await resolver(host))
    except (OSError, TimeoutError) as exc:
        raise unresolvable from exc
    if not addresses:
        raise unresolvable
    return addresses


def pinned_request_args(
    destination: CheckedDestination, url: str
) -> tuple[str, dict[str, str], dict[str, str]]:
    """`(url_with_ip, headers, extensions)` sending an httpx request for `url` to the checked address.

    The Host header and the TLS server name (`sni_hostname`, read by httpcore for SNI and certificate
    checks) stay the URL's host. httpx pools connections by (scheme, address, port): use a client per
    destination host, or one TLS connection verified for one name could carry another name's request.
    """
    target = parse_target(url)
    if not isinstance(target, TargetUrl) or (target.scheme, target.host, target.port) != (
        destination.scheme,
        destination.host,
        destination.port,
    ):
        msg = f"{url!r} is not the URL {destination.host!r} was checked for"
        raise ValueError(msg)
    ip = ip_address(destination.ip)
    netloc = f"[{ip.compressed}]" if isinstance(ip, IPv6Address) else ip.compressed
    if target.port != ALLOWED_SCHEMES[target.scheme]:
        netloc = f"{netloc}:{target.port}"
    pinned = urlunsplit((target.scheme, netloc, target.path or "/", target.query, ""))
    return pinned, {"Host": target.authority}, {"sni_hostname": target.host}
