"""Following a run's Server-Sent Events (`/v1/runs/{id}/events`, http-api.md §9.8) just far enough to
learn that it ended: `wait` then reads the status once instead of polling it. Pure: fed line by line.
"""

from __future__ import annotations

FINISHED_EVENT = "run.finished"


class RunEndWatcher:
    """Fed the stream's lines; `ended` turns true once a whole `run.finished` frame has arrived."""

    def __init__(self) -> None:
        self.ended = False
        self._event: str | None = None

    def feed(self, line: str) -> None:
        if line == "":  # a blank line ends the frame
            self.ended = self.ended or self._event == FINISHED_EVENT
            self._event = None
        elif line.startswith("event:"):
            self._event = line.removeprefix("event:").strip()


def read_timeout(remaining: float) -> float:
    """Each read of the stream may wait out the server's 15 s keep-alive, never past the wait's deadline."""
    return max(0.05, min(20.0, remaining))
