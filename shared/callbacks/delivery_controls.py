"""The names the API and the delivery workflow share to stop and resend one URL's delivery. Pure.

Renaming any of these breaks delivery workflows already in flight, so they are spelled once, here.
"""

from __future__ import annotations

from typing import Final

# Signal to the workflow delivering a URL: stop trying it (its argument is the delivery id).
CANCEL_DELIVERY_SIGNAL: Final = "cancel_delivery"
# Memo of a delivery workflow: {delivery id: state} of each URL it has finished with.
ENDED_MEMO: Final = "deliveries_ended"
# A delivery in one of these states is tried no more: it may be redelivered, not cancelled.
ENDED_STATES: Final = frozenset({"delivered", "gone", "refused", "failed", "cancelled"})


def redelivery_workflow_id(callbacks_workflow_id: str, delivery_id: str) -> str:
    """One id per delivery for every redelivery of it: Temporal runs at most one workflow per id at a
    time, so concurrent redeliver requests collapse into one, and a later one starts a new run."""
    return f"{callbacks_workflow_id}:redeliver:{delivery_id}"
