"""The ports `methodflow dev` listens on: each checked before anything starts, the API's held from then on.

A port another program holds is refused with its number and the option and variable that choose
another, instead of a child dying later with a bare exit code (or a foreign server answering for ours).
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass, replace

from worker.dev_server import HOST

MAX_PORT = 65535
# Where the Temporal CLI puts its UI by default, and so do we.
UI_PORT_OFFSET = 1000
# Uvicorn's own default: connections arriving while the API starts wait in the queue.
_BACKLOG = 2048


@dataclass(frozen=True)
class PortSetting:
    """What a port is for and how a user chooses it (the `methodflow dev` option and its variable)."""

    purpose: str
    option: str
    variable: str

    def how_to_choose(self) -> str:
        return f"choose another with {self.option} <port> or {self.variable}=<port>"


API_PORT = PortSetting("the API", "--port", "PORT")
TEMPORAL_PORT = PortSetting("the Temporal dev server", "--temporal-port", "TEMPORAL_DEV_PORT")
TEMPORAL_UI_PORT = PortSetting("the Temporal UI", "--temporal-ui-port", "TEMPORAL_DEV_UI_PORT")


class PortUnusableError(RuntimeError):
    """A port of the stack is taken or cannot be listened on; the message says how to choose another."""


def listen_on(setting: PortSetting, port: int) -> socket.socket:
    """A socket listening on `HOST:port`, or `PortUnusableError` naming the port and its option."""
    if not 0 < port <= MAX_PORT:
        msg = f"port {port} for {setting.purpose} is not a TCP port (1-{MAX_PORT}); {setting.how_to_choose()}"
        raise PortUnusableError(msg)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # As servers do (uvicorn, Go's net package): a port whose old connections linger in TIME_WAIT is free.
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((HOST, port))
        listener.listen(_BACKLOG)
    except OSError as exc:
        listener.close()
        if exc.errno == errno.EADDRINUSE:
            reason = f"is taken: another program listens on {HOST}:{port}"
        else:
            reason = f"cannot be listened on at {HOST}: {exc.strerror or exc}"
        msg = f"port {port} for {setting.purpose} {reason}; {setting.how_to_choose()}"
        raise PortUnusableError(msg) from exc
    return listener


def check_free(setting: PortSetting, port: int) -> None:
    """Raise `PortUnusableError` unless a server of ours can listen on `HOST:port` right now."""
    listen_on(setting, port).close()


def claim_ports(
    *, api_port: int, temporal_ports: tuple[int, int] | None, ui_port_derived: bool
) -> socket.socket:
    """The API's listening socket, held from now on; the Temporal ports checked free (its binary binds them)."""
    ui_setting = TEMPORAL_UI_PORT
    if ui_port_derived:
        ui_setting = replace(
            ui_setting, purpose=f"{ui_setting.purpose} (the Temporal port + {UI_PORT_OFFSET})"
        )
    wanted = [(API_PORT, api_port)]
    if temporal_ports is not None:
        wanted += [(TEMPORAL_PORT, temporal_ports[0]), (ui_setting, temporal_ports[1])]
    for index, (setting, port) in enumerate(wanted):
        for other, other_port in wanted[:index]:
            if port == other_port:
                msg = f"port {port} is given to both {other.purpose} and {setting.purpose}; {setting.how_to_choose()}"
                raise PortUnusableError(msg)
    listener = listen_on(API_PORT, api_port)
    try:
        for setting, port in wanted[1:]:
            check_free(setting, port)
    except PortUnusableError:
        listener.close()
        raise
    return listener
