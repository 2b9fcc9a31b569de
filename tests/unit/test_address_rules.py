"""The SSRF guard's rules (http-api.md §10.5), by classification only: no traffic is ever sent.

Destination checks use an injected resolver, so "this name resolves to 127.0.0.1" needs no DNS.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import httpx
import pytest

from shared.security.address_rules import (
    Refusal,
    TargetClass,
    TargetUrl,
    classify_address,
    parse_target,
    refused_host_name,
    url_problem,
)
from shared.security.destination import (
    CheckedDestination,
    DestinationRefused,
    Resolver,
    pinned_request_args,
    resolve_checked,
)

C = TargetClass

REFUSED_ADDRESSES = [
    ("127.0.0.1", C.LOOPBACK),
    ("127.255.255.254", C.LOOPBACK),
    ("::1", C.LOOPBACK),
    ("10.0.0.1", C.PRIVATE),
    ("10.255.255.255", C.PRIVATE),
    ("172.16.0.1", C.PRIVATE),
    ("172.31.255.255", C.PRIVATE),
    ("192.168.0.1", C.PRIVATE),
    ("fc00::1", C.PRIVATE),
    ("fdff:ffff::1", C.PRIVATE),
    ("169.254.169.254", C.LINK_LOCAL),  # cloud metadata: inside link-local, as §10.5 says
    ("169.254.0.1", C.LINK_LOCAL),
    ("fe80::1", C.LINK_LOCAL),
    ("fe80::1%eth0", C.LINK_LOCAL),
    ("febf::1", C.LINK_LOCAL),
    ("100.64.0.1", C.SHARED),
    ("100.127.255.255", C.SHARED),
    ("0.0.0.0", C.UNSPECIFIED),  # noqa: S104 -- classified, never bound
    ("0.1.2.3", C.UNSPECIFIED),
    ("::", C.UNSPECIFIED),
    ("224.0.0.1", C.MULTICAST),
    ("239.255.255.250", C.MULTICAST),
    ("ff02::1", C.MULTICAST),
    ("ff05::1:3", C.MULTICAST),
    ("255.255.255.255", C.BROADCAST),
    ("240.0.0.1", C.RESERVED),
    ("192.0.2.1", C.RESERVED),
    ("198.18.0.1", C.RESERVED),
    ("2001:db8::1", C.RESERVED),
    ("100::1", C.RESERVED),
    ("::127.0.0.1", C.RESERVED),  # deprecated IPv4-compatible form
    ("4000::1", C.RESERVED),  # outside 2000::/3, the only global unicast block
    ("fd00:ec2::254", C.METADATA),  # inside fc00::/7, but named by §10.5
    # IPv4-mapped, NAT64 and 6to4 forms are judged by the IPv4 address they carry.
    ("::ffff:127.0.0.1", C.LOOPBACK),
    ("::ffff:10.0.0.1", C.PRIVATE),
    ("::ffff:169.254.169.254", C.LINK_LOCAL),
    ("::ffff:0.0.0.0", C.UNSPECIFIED),
    ("64:ff9b::a00:1", C.PRIVATE),
    ("64:ff9b::7f00:1", C.LOOPBACK),
    ("64:ff9b::a9fe:a9fe", C.LINK_LOCAL),
    ("2002:7f00:1::1", C.LOOPBACK),
    ("2002:c0a8:101::1", C.PRIVATE),
]
PUBLIC_ADDRESSES = [
    "93.184.216.34",
    "8.8.8.8",
    "1.1.1.1",
    "172.32.0.1",  # just past 172.16.0.0/12
    "100.128.0.1",  # just past 100.64.0.0/10
    "11.0.0.1",
    "223.255.255.255",
    "2606:4700::1111",
    "2a00:1450:4001::200e",
    "::ffff:93.184.216.34",
    "64:ff9b::5db8:d822",  # NAT64 of 93.184.216.34
]


@pytest.mark.parametrize(("address", "expected"), REFUSED_ADDRESSES)
def test_every_refused_range_is_classified(address: str, expected: TargetClass) -> None:
    assert classify_address(address) == expected


@pytest.mark.parametrize("address", PUBLIC_ADDRESSES)
def test_public_addresses_are_allowed(address: str) -> None:
    assert classify_address(address) is None


def test_a_non_address_is_an_error_not_a_verdict() -> None:
    with pytest.raises(ValueError, match="does not appear to be"):
        classify_address("example.com")


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost", C.LOOPBACK),
        ("LOCALHOST", C.LOOPBACK),
        ("localhost.", C.LOOPBACK),
        ("api.localhost", C.LOOPBACK),
        ("a.b.localhost", C.LOOPBACK),
        ("metadata", C.METADATA),
        ("metadata.google.internal", C.METADATA),
        ("Metadata.Google.Internal.", C.METADATA),
        ("example.com", None),
        ("localhost.example.com", None),
        ("notlocalhost", None),
        ("metadata.example.com", None),
    ],
)
def test_refused_host_names(host: str, expected: TargetClass | None) -> None:
    assert refused_host_name(host) == expected


def _class_of(url: str) -> tuple[str, TargetClass] | None:
    problem = url_problem(url)
    return None if problem is None else (problem.reason, problem.target_class)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("file:///etc/passwd", ("scheme_not_allowed", C.SCHEME)),
        ("gopher://127.0.0.1:70/_GET", ("scheme_not_allowed", C.SCHEME)),
        ("ftp://example.com/", ("scheme_not_allowed", C.SCHEME)),
        ("javascript:alert(1)", ("scheme_not_allowed", C.SCHEME)),
        ("//example.com/", ("scheme_not_allowed", C.SCHEME)),
        ("example.com/hook", ("scheme_not_allowed", C.SCHEME)),
        ("http://user:secret@example.com/", ("host_not_allowed", C.USERINFO)),
        ("http://user@example.com/", ("host_not_allowed", C.USERINFO)),
        ("http://example.com\\@127.0.0.1/", ("host_not_allowed", C.USERINFO)),
        ("http:///hook", ("host_not_allowed", C.MALFORMED)),
        ("http://example.com:99999/", ("host_not_allowed", C.MALFORMED)),
        ("http://example.com:port/", ("host_not_allowed", C.MALFORMED)),
        ("http://exa mple.com/", ("host_not_allowed", C.MALFORMED)),
        ("http://a..b/", ("host_not_allowed", C.MALFORMED)),
        ("http://[::1/", ("host_not_allowed", C.MALFORMED)),
        ("http://127.0.0.1:8080/hook", ("host_not_allowed", C.LOOPBACK)),
        ("http://[::1]/hook", ("host_not_allowed", C.LOOPBACK)),
        ("http://[::ffff:127.0.0.1]/", ("host_not_allowed", C.LOOPBACK)),
        ("http://10.0.0.1/", ("host_not_allowed", C.PRIVATE)),
        ("http://169.254.169.254/latest/meta-data/", ("host_not_allowed", C.LINK_LOCAL)),
        ("http://[fd00:ec2::254]/", ("host_not_allowed", C.METADATA)),
        ("http://localhost:8080/", ("host_not_allowed", C.LOOPBACK)),
        ("HTTP://LocalHost/", ("host_not_allowed", C.LOOPBACK)),
        ("http://metadata.google.internal/", ("host_not_allowed", C.METADATA)),
        ("https://example.com/hook?token=1", None),
        ("HTTPS://Example.COM:8443/hook", None),
        ("http://93.184.216.34/hook", None),
        ("http://[2606:4700::1111]/hook", None),
        ("http://exämple.com/", None),  # IDN, judged by DNS later
    ],
)
def test_url_problem_judges_what_needs_no_dns(url: str, expected: tuple[str, TargetClass] | None) -> None:
    assert _class_of(url) == expected


def test_allow_private_lifts_the_address_and_name_rules_only() -> None:
    for url in ("http://127.0.0.1:9/", "http://[::1]/", "http://localhost:8080/", "http://169.254.169.254/"):
        assert url_problem(url, allow_private=True) is None
    assert url_problem("file:///etc/passwd", allow_private=True) == Refusal(
        "scheme_not_allowed", C.SCHEME, "file"
    )
    assert url_problem("http://u:p@127.0.0.1/", allow_private=True) is not None


class FakeDns:
    """A resolver answering fixed addresses for any name, remembering the names it was asked for."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = list(addresses)
        self.asked: list[str] = []

    async def __call__(self, host: str) -> Sequence[str]:
        self.asked.append(host)
        return self.addresses


async def refusal_of(url: str, resolver: Resolver, *, allow_private: bool = False) -> Refusal:
    with pytest.raises(DestinationRefused) as caught:
        await resolve_checked(url, allow_private=allow_private, resolver=resolver)
    return caught.value.refusal


async def test_a_name_resolving_to_loopback_is_refused() -> None:
    dns = FakeDns("127.0.0.1")
    refusal = await refusal_of("https://hooks.example.com/run-done", dns)
    assert refusal == Refusal("host_not_allowed", C.LOOPBACK, "hooks.example.com")
    assert dns.asked == ["hooks.example.com"]


async def test_one_private_address_among_public_ones_refuses_the_host() -> None:
    refusal = await refusal_of(
        "https://hooks.example.com/", FakeDns("93.184.216.34", "2606:4700::1111", "10.0.0.7")
    )
    assert (refusal.reason, refusal.target_class) == ("host_not_allowed", C.PRIVATE)
    refusal = await refusal_of("https://hooks.example.com/", FakeDns("2606:4700::1111", "fd00:ec2::254"))
    assert refusal.target_class == C.METADATA
    refusal = await refusal_of(
        "https://hooks.example.com/", FakeDns("93.184.216.34", "::ffff:169.254.169.254")
    )
    assert refusal.target_class == C.LINK_LOCAL


async def test_a_name_that_does_not_resolve_is_refused() -> None:
    async def nxdomain(host: str) -> Sequence[str]:
        raise OSError(-2, f"Name or service not known: {host}")

    for resolver in (nxdomain, FakeDns()):
        refusal = await refusal_of("https://nowhere.example/", resolver)
        assert refusal == Refusal("host_not_allowed", C.UNRESOLVABLE, "nowhere.example")
        # Lifting the address rule does not make an unknown name reachable.
        assert (await refusal_of("https://nowhere.example/", resolver, allow_private=True)).target_class == (
            C.UNRESOLVABLE
        )


async def test_a_resolver_over_its_budget_counts_as_unresolvable() -> None:
    async def stalled(host: str) -> Sequence[str]:
        await asyncio.Event().wait()
        return [host]

    with pytest.raises(DestinationRefused) as caught:
        await resolve_checked("https://slow.example/", allow_private=False, resolver=stalled, timeout=0.05)
    assert caught.value.refusal.target_class == C.UNRESOLVABLE


async def test_names_and_literals_are_judged_without_asking_dns() -> None:
    dns = FakeDns("93.184.216.34")
    for url, expected in [
        ("http://localhost:8080/", C.LOOPBACK),
        ("http://metadata.google.internal/", C.METADATA),
        ("http://127.0.0.1/", C.LOOPBACK),
        ("http://[::1]:9/", C.LOOPBACK),
        ("gopher://example.com/", C.SCHEME),
        ("http://user:pw@example.com/", C.USERINFO),
    ]:
        assert (await refusal_of(url, dns)).target_class == expected
    assert dns.asked == []


async def test_a_public_name_is_pinned_to_its_checked_address() -> None:
    dns = FakeDns("93.184.216.34", "2606:4700::1111")
    url = "https://Hooks.Example.com/run-done?token=abc#ignored"
    destination = await resolve_checked(url, allow_private=False, resolver=dns)
    assert (destination.scheme, destination.host, destination.port) == ("https", "hooks.example.com", 443)
    assert destination.ip == "93.184.216.34"
    assert destination.addresses == ("93.184.216.34", "2606:4700::1111")

    pinned, headers, extensions = pinned_request_args(destination, url)
    assert pinned == "https://93.184.216.34/run-done?token=abc"
    assert headers == {"Host": "hooks.example.com"}
    assert extensions == {"sni_hostname": "hooks.example.com"}
    # What httpx will send: the connection goes to the address, the request still names the host.
    request = httpx.Request("POST", pinned, headers=headers, extensions=extensions, content=b"{}")
    assert (request.url.host, request.url.port) == ("93.184.216.34", None)  # None: the scheme's default
    assert request.headers["host"] == "hooks.example.com"
    assert request.extensions["sni_hostname"] == "hooks.example.com"


async def test_pinning_keeps_a_non_default_port_and_brackets_ipv6() -> None:
    url = "http://hooks.example.com:8080/a/b"
    destination = await resolve_checked(url, allow_private=False, resolver=FakeDns("2606:4700::1111"))
    pinned, headers, extensions = pinned_request_args(destination, url)
    assert pinned == "http://[2606:4700::1111]:8080/a/b"
    assert headers == {"Host": "hooks.example.com:8080"}
    assert extensions == {"sni_hostname": "hooks.example.com"}
    assert httpx.Request("POST", pinned, headers=headers).url.host == "2606:4700::1111"


async def test_a_literal_address_is_its_own_destination() -> None:
    url = "http://[2606:4700::1111]:8443"
    destination = await resolve_checked(url, allow_private=False, resolver=FakeDns())
    assert destination.addresses == ("2606:4700::1111",)
    pinned, headers, _ = pinned_request_args(destination, url)
    assert (pinned, headers) == ("http://[2606:4700::1111]:8443/", {"Host": "[2606:4700::1111]:8443"})


async def test_allow_private_reaches_loopback_but_keeps_the_scheme_rule() -> None:
    dns = FakeDns("127.0.0.1")
    destination = await resolve_checked("http://localhost:8080/hook", allow_private=True, resolver=dns)
    assert destination.ip == "127.0.0.1"
    assert pinned_request_args(destination, "http://localhost:8080/hook")[1] == {"Host": "localhost:8080"}
    assert (await refusal_of("file:///etc/passwd", dns, allow_private=True)).target_class == C.SCHEME


async def test_pinning_refuses_a_url_the_destination_was_not_checked_for() -> None:
    destination = CheckedDestination(
        target=_target("https://hooks.example.com/"), ip="93.184.216.34", addresses=("93.184.216.34",)
    )
    for other in ("https://evil.example.com/", "http://hooks.example.com/", "https://hooks.example.com:444/"):
        with pytest.raises(ValueError, match="is not the URL"):
            pinned_request_args(destination, other)


def _target(url: str) -> TargetUrl:
    target = parse_target(url)
    assert isinstance(target, TargetUrl)
    return target
