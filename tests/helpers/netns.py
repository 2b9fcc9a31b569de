"""Hosts made of Linux network namespaces, for tests that spread the service over several machines.

Each host is a network namespace with one veth pair whose other end sits on a bridge in the root
namespace; the bridge has an address too, so the test process reaches every host while the hosts reach
each other only over that virtual network (each has its own loopback). Processes start inside a host
with `ip netns exec` and die with the test process (parent-death signal). Names carry this process's
id and a random token, so parallel runs never collide, and whatever a killed run left behind is removed
by the next run. Needs root and iproute2: `unavailable_reason` says why a test must skip.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Generator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from worker.parent_death import end_with_parent

PREFIX = "mfnet"
# Namespaces are `mfnet-<pid>-<token>-<host>`; the bridge `mfb<token>` (interface names: 15 bytes at most)
# carries `mfnet-<pid>` as its alias, so a leftover of a dead process is recognised and removed.
_NAMESPACE = re.compile(rf"^{PREFIX}-(?P<pid>\d+)-(?P<token>[0-9a-f]{{6}})-\S+")
_BRIDGE_ALIAS = re.compile(rf"^{PREFIX}-(?P<pid>\d+)$")
# Held while a subnet is chosen and claimed, so two runs starting together never pick the same one.
_LOCK_FILE = Path(tempfile.gettempdir()) / "methodflow-netns.lock"


class NetnsError(RuntimeError):
    """An `ip` command failed; the message holds its command line and output."""


def ip(*args: str, check: bool = True) -> str:
    """Run `ip ARGS`; its standard output, or `NetnsError` when it fails and `check` is set."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        msg = f"ip {' '.join(args)} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}"
        raise NetnsError(msg)
    return done.stdout


def unavailable_reason() -> str | None:
    """Why namespaces cannot be made here (not Linux, not root, no `ip`, refused), or None when they can."""
    if not sys.platform.startswith("linux"):
        return "network namespaces exist on Linux only"
    if os.geteuid() != 0:
        return "making network namespaces needs root"
    if shutil.which("ip") is None:
        return "iproute2's `ip` command is not installed"
    probe = f"{PREFIX}-{os.getpid()}-{secrets.token_hex(3)}-probe"
    try:
        ip("netns", "add", probe)
    except NetnsError as exc:
        return f"cannot make a network namespace: {exc}"
    ip("netns", "del", probe, check=False)
    return None


@dataclass(frozen=True)
class Host:
    """One machine of the virtual network: its role, namespace and address on the bridge."""

    name: str
    namespace: str
    address: str

    def command(self, argv: Sequence[str]) -> list[str]:
        """`argv` run inside this host (`ip netns exec` execs it: the process id stays the command's)."""
        return ["ip", "netns", "exec", self.namespace, *argv]


@dataclass
class HostProcess:
    host: Host
    label: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()


@dataclass
class VirtualNetwork:
    """The hosts of one test, the bridge joining them, and every process started on them."""

    token: str
    bridge: str
    gateway: str  # the root namespace's address on the bridge
    hosts: dict[str, Host]
    log_dir: Path
    processes: list[HostProcess] = field(default_factory=list[HostProcess])

    def start(
        self, host: str, label: str, argv: Sequence[str], env: Mapping[str, str], cwd: Path | None = None
    ) -> HostProcess:
        """Start `argv` on `host` with exactly `env`; its output goes to `<log_dir>/<label>.log`."""
        log_path = self.log_dir / f"{label}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                self.hosts[host].command(argv),
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # SIGKILL when the test process dies, however it dies: nothing outlives the test.
                preexec_fn=end_with_parent(signal.SIGKILL),
            )
        started = HostProcess(self.hosts[host], label, process, log_path)
        self.processes.append(started)
        return started

    def kill_host(self, host: str) -> list[int]:
        """SIGKILL every process in `host` (a machine losing power); the killed process ids."""
        namespace = self.hosts[host].namespace
        killed = _kill_namespace(namespace)
        for started in self.processes:
            if started.host.namespace == namespace:
                started.kill()
        return killed

    def wait_for_port(
        self, host: str, port: int, *, within: float = 60, process: HostProcess | None = None
    ) -> None:
        """Wait until `host:port` accepts a connection from the root namespace (over the bridge)."""
        address = self.hosts[host].address
        deadline = time.monotonic() + within
        while True:
            if process is not None and process.process.poll() is not None:
                msg = f"{process.label} exited with {process.process.returncode}:\n{process.log()}"
                raise AssertionError(msg)
            with contextlib.suppress(OSError), socket.create_connection((address, port), timeout=0.5):
                return
            if time.monotonic() > deadline:
                msg = f"{host} ({address}) did not accept connections on port {port} within {within} s"
                raise AssertionError(msg)
            time.sleep(0.05)

    def logs(self) -> str:
        return "".join(
            f"\n----- {started.label} on {started.host.name} ({started.host.address}), "
            f"exit {started.process.returncode} -----\n{started.log()}"
            for started in self.processes
        )


@contextmanager
def virtual_network(host_names: Sequence[str], log_dir: Path) -> Generator[VirtualNetwork]:
    """Hosts named `host_names` on a bridge of their own, torn down at the end however the block ends.

    When the block fails, the output of every process started on the hosts goes to stderr.
    """
    remove_leftovers()
    token = secrets.token_hex(3)
    bridge = f"mfb{token}"
    namespaces = [f"{PREFIX}-{os.getpid()}-{token}-{name}" for name in host_names]
    veths = [f"mfv{token}{index:x}" for index in range(len(host_names))]
    network: VirtualNetwork | None = None
    try:
        with _subnet_lock():
            subnet = _free_subnet()
            ip("link", "add", bridge, "type", "bridge")
            ip("link", "set", "dev", bridge, "alias", f"{PREFIX}-{os.getpid()}")
            ip("addr", "add", f"{subnet}.1/24", "dev", bridge)
            ip("link", "set", bridge, "up")
        hosts: dict[str, Host] = {}
        for index, (name, namespace, veth) in enumerate(zip(host_names, namespaces, veths, strict=True)):
            address = f"{subnet}.{10 + index}"
            ip("netns", "add", namespace)
            ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", namespace)
            ip("link", "set", veth, "master", bridge, "up")
            ip("-n", namespace, "addr", "add", f"{address}/24", "dev", "eth0")
            ip("-n", namespace, "link", "set", "eth0", "up")
            ip("-n", namespace, "link", "set", "lo", "up")
            hosts[name] = Host(name, namespace, address)
        network = VirtualNetwork(token, bridge, f"{subnet}.1", hosts, log_dir)
        yield network
    except BaseException:
        if network is not None:
            sys.stderr.write(network.logs())
        raise
    finally:
        for started in network.processes if network is not None else []:
            started.kill()
        _tear_down(namespaces, veths, bridge)


def remove_leftovers() -> None:
    """Remove the namespaces and bridges of test processes that died without tearing theirs down."""
    for namespace in _namespaces():
        match = _NAMESPACE.match(namespace)
        if match and not _alive(int(match["pid"])):
            _tear_down([namespace], [], f"mfb{match['token']}")
    for link in cast(list[dict[str, Any]], json.loads(ip("-j", "link", "show", "type", "bridge") or "[]")):
        match = _BRIDGE_ALIAS.match(str(link.get("ifalias", "")))
        if match and not _alive(int(match["pid"])):
            ip("link", "del", str(link["ifname"]), check=False)


def _tear_down(namespaces: Sequence[str], veths: Sequence[str], bridge: str) -> None:
    """Kill what still runs in the namespaces, then delete links, namespaces and bridge, each attempted."""
    failures: list[str] = []
    existing = set(_namespaces())
    for namespace in namespaces:
        if namespace in existing:
            _kill_namespace(namespace)
    # The root ends first: deleting a namespace removes its veth pairs only later (asynchronously).
    steps = [("link", "del", veth) for veth in veths if _link_exists(veth)]
    steps += [("netns", "del", namespace) for namespace in namespaces if namespace in existing]
    steps += [("link", "del", bridge)] if _link_exists(bridge) else []
    for step in steps:
        try:
            ip(*step)
        except NetnsError as exc:
            failures.append(str(exc))
    if failures:
        raise NetnsError("; ".join(failures))


def _kill_namespace(namespace: str, within: float = 10) -> list[int]:
    """SIGKILL every process in `namespace` (all started by this helper) and wait until they are gone."""
    pids = [int(pid) for pid in ip("netns", "pids", namespace, check=False).split()]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + within
    # Not all are our children (ip netns exec may be run by a dead test): wait on /proc, not waitpid.
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    return pids


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, killed but not yet reaped by its parent, counts as gone)."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return False
    return status.rpartition(")")[2].split()[0] != "Z"


def _namespaces() -> list[str]:
    # `ip netns list` prints `name` or `name (id: N)`.
    return [line.split()[0] for line in ip("netns", "list").splitlines() if line.strip()]


def _link_exists(name: str) -> bool:
    return bool(ip("-o", "link", "show", "dev", name, check=False).strip())


def _free_subnet() -> str:
    """A /24 of 10.200.0.0/13 that no address or route of the root namespace uses: `10.a.b`."""
    used = ip("-4", "-o", "addr", "show") + ip("-4", "route", "show")
    for _ in range(100):
        candidate = f"10.{200 + secrets.randbelow(8)}.{secrets.randbelow(256)}"
        if f"{candidate}." not in used:
            return candidate
    msg = "no free 10.200.0.0/13 subnet for the test network"
    raise NetnsError(msg)


@contextmanager
def _subnet_lock() -> Generator[None]:
    with _LOCK_FILE.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
