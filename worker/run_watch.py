"""Following a run on a terminal (`methodflow watch`, `run --server`, `start --wait`): the live view.

Placeholder of the interface the CLI calls; the live view replaces it.
"""

from __future__ import annotations

from rich.console import Console

from client import MethodflowClient, RunStatus


def watch_run(client: MethodflowClient, run_id: str, *, console: Console, within: float = 3600.0) -> RunStatus:
    """Follow the run until it ends, drawing its live view on `console` when it is a terminal, and return
    its final status. Client errors (`MethodflowError` and its kinds, `WaitTimeout`) propagate."""
    del console
    return client.wait(run_id, within=within)
