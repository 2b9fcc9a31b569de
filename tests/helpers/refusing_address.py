"""A loopback address that surely refuses connections, held by the test for as long as it needs it.

A port that was free a moment ago may be taken by then, and the SDK's default (127.0.0.1:7233) is taken
whenever a developer runs Temporal: a test that needs "nothing answers there" holds its own port instead.
"""

from __future__ import annotations

import socket
from collections.abc import Generator
from contextlib import contextmanager

HOST = "127.0.0.1"


@contextmanager
def refusing_address() -> Generator[str]:
    """`host:port` of a TCP socket bound but never listening: connections are refused at once.

    While the socket stays bound (and without SO_REUSEADDR), no other process can listen on that port.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind((HOST, 0))
        yield f"{HOST}:{held.getsockname()[1]}"
