"""`python -m worker.dev_api FD`: the API process of `methodflow dev`, serving on a socket it inherits.

`methodflow dev` binds the API port itself before starting anything and hands the listening socket to
this process, so a taken port is refused up front and no other program can take the port meanwhile:
whatever answers on it is this process, never a foreign server.
"""

from __future__ import annotations

import socket
import sys

import uvicorn

# By name: uvicorn imports the app, `worker` never imports `api`.
API_FACTORY = "api.main:create_app"


def main(argv: list[str]) -> None:
    """Serve the API on the listening socket whose descriptor is `argv[0]` until SIGINT/SIGTERM."""
    # Built from the descriptor, the socket keeps its real family (uvicorn's own `--fd` assumes AF_UNIX,
    # which would leave TCP_NODELAY unset on every connection).
    listener = socket.socket(fileno=int(argv[0]))
    uvicorn.Server(uvicorn.Config(API_FACTORY, factory=True)).run(sockets=[listener])


if __name__ == "__main__":
    main(sys.argv[1:])
