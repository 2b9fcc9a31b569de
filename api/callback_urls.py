"""`callback_urls` at request time (http-api.md §4.5 step 4, §10.5): the SSRF rule, then the signing secret.

Each URL's host is resolved and every address checked, all URLs at once so that five slow names cost
one DNS budget; the first refused URL in request order answers. Workers check again before each delivery.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from api.problems import ProblemError
from api.settings import ApiSettings
from shared.problems.catalogue import ProblemCode
from shared.security.address_rules import Refusal, TargetClass, why_refused
from shared.security.destination import DestinationRefused, Resolver, resolve_checked

FIELD = "callback_urls"


async def check_callback_urls(
    urls: Sequence[str] | None, settings: ApiSettings, *, resolver: Resolver | None = None
) -> None:
    """422 `security.input_url_refused` for the first refused URL; 500 when no signing secret is set."""
    if not urls:
        return
    refusals = await asyncio.gather(
        *(
            _refusal_of(url, allow_private=settings.allow_private_callback_urls, resolver=resolver)
            for url in urls
        )
    )
    for position, refusal in enumerate(refusals, start=1):
        if refusal is not None:
            raise callback_url_refused(refusal, position)
    if settings.completion_callback_secret is None:
        raise ProblemError(
            ProblemCode.RUNTIME_MISCONFIGURED,
            "Callbacks were requested but the service has no signing secret configured.",
            params={"component": "COMPLETION_CALLBACK_SECRET"},
        )


async def _refusal_of(url: str, *, allow_private: bool, resolver: Resolver | None) -> Refusal | None:
    try:
        await resolve_checked(url, allow_private=allow_private, resolver=resolver)
    except DestinationRefused as refused:
        return refused.refusal
    return None


def callback_url_refused(refusal: Refusal, position: int) -> ProblemError:
    """The problem of §10.5 for the callback URL at `position` (1-based)."""
    return ProblemError(
        ProblemCode.SECURITY_INPUT_URL_REFUSED,
        f"Callback URL #{position} was refused: {why_refused(refusal)}.{_private_hint(refusal)}",
        params={"input": FIELD, "reason": refusal.reason, "target_class": refusal.target_class.value},
        location={"field": FIELD},
    )


def _private_hint(refusal: Refusal) -> str:
    # A receiver on a laptop or inside the cluster is a common first try: name the switch that allows it,
    # which only the operator can turn (no address or secret of the service is revealed by it).
    if refusal.target_class in {TargetClass.LOOPBACK, TargetClass.PRIVATE}:
        return " The service's operator may allow such receivers with ALLOW_PRIVATE_CALLBACK_URLS=true."
    return ""
