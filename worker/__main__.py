"""`python -m worker`: the same as `methodflow worker` (what `methodflow dev` starts as its worker process)."""

from __future__ import annotations

import sys

from worker.cli import app

app(["worker", *sys.argv[1:]], prog_name="methodflow worker")
