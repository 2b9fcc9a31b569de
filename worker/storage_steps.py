"""How workflows time and retry the storage activities (items, pages, memories, outputs).

Every storage write goes to a key fixed by its task, so a retry rewrites the same file: these
activities are retried freely. What bounds them is noticing a dead worker: a short one must end
within `STORAGE_TIMEOUT` (its payload is at most about 2 MB), and a long one (sealing 10,000 chunks
from S3) heartbeats as it goes, so a worker killed mid-write stalls its workflow for seconds, not
minutes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from temporalio.common import RetryPolicy

STORAGE_TIMEOUT: Final = timedelta(seconds=30)
LONG_STORAGE_TIMEOUT: Final = timedelta(minutes=30)
LONG_STORAGE_HEARTBEAT: Final = timedelta(seconds=15)
STORAGE_RETRY: Final = RetryPolicy(maximum_interval=timedelta(seconds=10))
