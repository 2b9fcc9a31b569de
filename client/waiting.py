"""How `wait` follows a run to its end, shared by both clients: its deadline, when reading the run's
event stream stops (`run.finished` arrived, or the deadline passed) and when polling `/status` stops
(the run ended, or the next poll would pass the deadline: `WaitTimeout`). The clients read and sleep.
"""

from __future__ import annotations

import time

import httpx

from client.errors import WaitTimeout
from client.events import RunEndWatcher, read_timeout
from client.models import RunStatus


class RunWait:
    """One `wait(run_id, within=..., interval=...)`, from the moment it began."""

    def __init__(self, run_id: str, within: float, interval: float) -> None:
        self.run_id = run_id
        self.within = within
        self.interval = interval
        self.deadline = time.monotonic() + within
        self._watcher = RunEndWatcher()

    def stream_timeout(self, client_timeout: httpx.Timeout) -> httpx.Timeout:
        """The event stream's timeout: the client's to connect, each read bounded by the deadline."""
        return httpx.Timeout(client_timeout.connect, read=read_timeout(self.deadline - time.monotonic()))

    def heard(self, line: str) -> bool:
        """Feed one line of the stream; True when reading it further is done."""
        self._watcher.feed(line)
        return self._watcher.ended or time.monotonic() > self.deadline

    def ended(self, current: RunStatus) -> bool:
        """Whether the polled status is the final one; `WaitTimeout` when the next poll would come past
        the deadline."""
        if current.is_terminal:
            return True
        if time.monotonic() + self.interval > self.deadline:
            msg = f"the run {self.run_id} had not ended after {self.within} s (state {current.state})"
            raise WaitTimeout(msg, problem={"pipeline_run_id": self.run_id})
        return False
