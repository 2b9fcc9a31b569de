"""Child processes that end when their parent ends, however it ends (on Linux, the parent-death signal).

`methodflow dev` starts each child in a session of its own so that a terminal's Ctrl-C reaches only the
parent, which stops the children in order. Such a child outlives a parent killed hard (SIGKILL, OOM)
unless the kernel tells it: `prctl(PR_SET_PDEATHSIG)` set between fork and exec survives the exec (into
Python and into the Go binary of the Temporal dev server alike) and sends the signal when the parent dies.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def end_with_parent(signum: signal.Signals = signal.SIGTERM) -> Callable[[], None] | None:
    """A `preexec_fn` for `subprocess.Popen` that has the child get `signum` when this process dies.

    The kernel watches the thread that forks, not the process: start the child from the main thread.
    None where there is no parent-death signal (not Linux): the child is then stopped only by `stop()`.
    """
    if not sys.platform.startswith("linux"):
        return None
    # Looked up here, before the fork: the child only calls it.
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def _in_child() -> None:
        if prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, os.strerror(errno))
        # The parent may have died between the fork and the prctl: no signal would come for it.
        if os.getppid() != parent:
            os.kill(os.getpid(), signum)

    return _in_child
