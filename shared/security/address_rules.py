"""The SSRF guard's rules (http-api.md §10.5): schemes, host names and address ranges a request may not target.

Pure: no DNS, no sockets. `destination.py` resolves names and applies these rules to every address found.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Literal
from urllib.parse import SplitResult, urlsplit

ALLOWED_SCHEMES = {"http": 80, "https": 443}
_HOST_NAME = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*$")


class TargetClass(StrEnum):
    """Why a destination is refused: `params.target_class` of `security.input_url_refused`."""

    LOOPBACK = "loopback"
    PRIVATE = "private"
    LINK_LOCAL = "link_local"
    SHARED = "shared"
    UNSPECIFIED = "unspecified"
    MULTICAST = "multicast"
    RESERVED = "reserved"
    BROADCAST = "broadcast"
    METADATA = "metadata"
    SCHEME = "scheme"
    USERINFO = "userinfo"
    MALFORMED = "malformed"
    UNRESOLVABLE = "unresolvable"


Reason = Literal["host_not_allowed", "scheme_not_allowed"]


@dataclass(frozen=True, slots=True)
class Refusal:
    """A refused destination: `reason` and `target_class` are the problem's params, `subject` what was judged."""

    reason: Reason
    target_class: TargetClass
    subject: str


_WHY: dict[TargetClass, str] = {
    TargetClass.USERINFO: "it carries a user name or password",
    TargetClass.MALFORMED: "its host or port is not valid",
    TargetClass.UNRESOLVABLE: "its host name does not resolve",
}


def why_refused(refusal: Refusal, *, accepted_schemes: str = "http and https") -> str:
    """The refusal in words, for a problem's detail ("...was refused: <this>")."""
    if refusal.target_class == TargetClass.SCHEME:
        return f"only {accepted_schemes} URLs are accepted"
    default = f"its host is or resolves to a {refusal.target_class} address"
    return _WHY.get(refusal.target_class, default)


@dataclass(frozen=True, slots=True)
class TargetUrl:
    """The parts of an http(s) URL the guard judges; `host` is lower-case ASCII (IDNA), IPv6 without brackets."""

    scheme: str
    host: str
    port: int
    path: str
    query: str
    literal: IPv4Address | IPv6Address | None

    @property
    def authority(self) -> str:
        """`host[:port]` as the Host header carries it: brackets around IPv6, the port only when not default."""
        host = f"[{self.host}]" if isinstance(self.literal, IPv6Address) else self.host
        return host if self.port == ALLOWED_SCHEMES[self.scheme] else f"{host}:{self.port}"


_C = TargetClass
# First match wins: the metadata address lies inside fc00::/7, broadcast inside 240.0.0.0/4.
_IPV4_RANGES: tuple[tuple[IPv4Network, TargetClass], ...] = tuple(
    (IPv4Network(network), target_class)
    for network, target_class in (
        ("0.0.0.0/8", _C.UNSPECIFIED),
        ("10.0.0.0/8", _C.PRIVATE),
        ("100.64.0.0/10", _C.SHARED),
        ("127.0.0.0/8", _C.LOOPBACK),
        ("169.254.0.0/16", _C.LINK_LOCAL),  # holds the cloud metadata address 169.254.169.254
        ("172.16.0.0/12", _C.PRIVATE),
        ("192.0.0.0/24", _C.RESERVED),  # IETF protocol assignments
        ("192.0.2.0/24", _C.RESERVED),  # documentation
        ("192.88.99.0/24", _C.RESERVED),  # deprecated 6to4 relay anycast
        ("192.168.0.0/16", _C.PRIVATE),
        ("198.18.0.0/15", _C.RESERVED),  # benchmarking
        ("198.51.100.0/24", _C.RESERVED),  # documentation
        ("203.0.113.0/24", _C.RESERVED),  # documentation
        ("224.0.0.0/4", _C.MULTICAST),
        ("255.255.255.255/32", _C.BROADCAST),
        ("240.0.0.0/4", _C.RESERVED),
    )
)
_IPV6_RANGES: tuple[tuple[IPv6Network, TargetClass], ...] = tuple(
    (IPv6Network(network), target_class)
    for network, target_class in (
        ("::/128", _C.UNSPECIFIED),
        ("::1/128", _C.LOOPBACK),
        ("::/96", _C.RESERVED),  # deprecated IPv4-compatible addresses
        ("::ffff:0:0:0/96", _C.RESERVED),  # IPv4-translated (SIIT)
        ("64:ff9b:1::/48", _C.PRIVATE),  # local-use NAT64 (RFC 8215)
        ("100::/64", _C.RESERVED),  # discard-only
        ("2001::/23", _C.RESERVED),  # IETF protocol assignments, Teredo among them
        ("2001:db8::/32", _C.RESERVED),  # documentation
        ("3fff::/20", _C.RESERVED),  # documentation
        ("5f00::/16", _C.RESERVED),  # SRv6 segment identifiers
        ("fd00:ec2::254/128", _C.METADATA),  # AWS instance metadata over IPv6
        ("fc00::/7", _C.PRIVATE),
        ("fe80::/10", _C.LINK_LOCAL),
        ("fec0::/10", _C.PRIVATE),  # deprecated site-local
        ("ff00::/8", _C.MULTICAST),
    )
)
# Only 2000::/3 holds global unicast; the rest of the IPv6 space is unassigned or special.
_IPV6_GLOBAL_UNICAST = IPv6Network("2000::/3")
_NAT64 = IPv6Network("64:ff9b::/96")
_SIX_TO_FOUR = IPv6Network("2002::/16")

_REFUSED_NAMES = {"localhost": _C.LOOPBACK, "metadata": _C.METADATA, "metadata.google.internal": _C.METADATA}


def classify_address(address: str | IPv4Address | IPv6Address) -> TargetClass | None:
    """The refused class `address` falls in, or None when it may be reached; `ValueError` if not an address.

    IPv6 forms that carry an IPv4 address (mapped, NAT64, 6to4) are judged by that address.
    """
    ip = ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return classify_address(embedded)
        found = next((target for network, target in _IPV6_RANGES if ip in network), None)
        if found is None and ip not in _IPV6_GLOBAL_UNICAST:
            return _C.RESERVED
        return found
    return next((target for network, target in _IPV4_RANGES if ip in network), None)


def _embedded_ipv4(ip: IPv6Address) -> IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return IPv4Address(int(ip) & 0xFFFF_FFFF)
    return ip.sixtofour


def refused_host_name(host: str) -> TargetClass | None:
    """The class of a host name refused by name alone (`localhost`, `*.localhost`, metadata names), else None."""
    name = host.lower().rstrip(".")
    if name.endswith(".localhost"):
        return _C.LOOPBACK
    return _REFUSED_NAMES.get(name)


def parse_target(url: str) -> TargetUrl | Refusal:
    """The URL's parts, or the refusal of its scheme (http/https only), its userinfo, or a malformed authority."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return Refusal("host_not_allowed", _C.MALFORMED, url)
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        return Refusal("scheme_not_allowed", _C.SCHEME, scheme)
    if "@" in parts.netloc:
        return Refusal("host_not_allowed", _C.USERINFO, "userinfo")
    host, port = _host_and_port(parts)
    if host is None or port is None:
        return Refusal("host_not_allowed", _C.MALFORMED, parts.netloc)
    literal = _literal_address(host)
    return TargetUrl(
        scheme, host if literal is None else literal.compressed, port, parts.path, parts.query, literal
    )


def _host_and_port(parts: SplitResult) -> tuple[str | None, int | None]:
    try:
        port = parts.port
        host = (parts.hostname or "").rstrip(".")
        ascii_host = host.encode("idna").decode("ascii").lower() if host else ""
    except (ValueError, UnicodeError):
        return None, None
    if not ascii_host:
        return None, None
    if port is None:
        port = ALLOWED_SCHEMES[parts.scheme.lower()]
    if not 0 < port < 65536:
        return None, None
    if _literal_address(ascii_host) is None and not _HOST_NAME.match(ascii_host):
        return None, None
    return ascii_host, port


def _literal_address(host: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(host)
    except ValueError:
        return None


def addresses_problem(host: str, addresses: Iterable[str | IPv4Address | IPv6Address]) -> Refusal | None:
    """The refusal of the first refused address `host` stands for: one bad address refuses the whole host."""
    for address in addresses:
        target_class = classify_address(address)
        if target_class is not None:
            return Refusal("host_not_allowed", target_class, host)
    return None


def url_problem(url: str, *, allow_private: bool = False) -> Refusal | None:
    """What the guard can judge without DNS: scheme, userinfo, authority, refused names and literal addresses.

    `allow_private` lifts the name and address rules (local development, tests); the scheme rule stays.
    """
    target = parse_target(url)
    if isinstance(target, Refusal):
        return target
    if allow_private:
        return None
    if target.literal is not None:
        return addresses_problem(target.host, [target.literal])
    named = refused_host_name(target.host)
    return Refusal("host_not_allowed", named, target.host) if named is not None else None
