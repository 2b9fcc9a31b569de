"""Worker versioning: a worker built from new code never replays the histories of runs begun on old code.

With `WORKER_DEPLOYMENT_NAME` and `WORKER_BUILD_ID` both set, every SDK worker of the process joins that
deployment as version `<name>.<build id>`, and each workflow is *pinned*: it runs to its end on the
version it started on. A new image is rolled out beside the old one, made current (`temporal worker
deployment set-current-version`), and the old version's pods are removed once its runs have drained
(deploy/README.md, "Upgrades"). Unset, the worker is unversioned, as before.
"""

from __future__ import annotations

from typing import Any

from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.worker import WorkerDeploymentConfig

from worker.settings import WorkerSettings, WorkerSettingsError


def deployment_version(settings: WorkerSettings) -> WorkerDeploymentVersion | None:
    """This worker's version, or None when versioning is off; `WorkerSettingsError` when half set."""
    name, build_id = settings.worker_deployment_name, settings.worker_build_id
    if not name and not build_id:
        return None
    if not name or not build_id:
        msg = "WORKER_DEPLOYMENT_NAME and WORKER_BUILD_ID are set together or not at all"
        raise WorkerSettingsError(msg)
    return WorkerDeploymentVersion(deployment_name=name, build_id=build_id)


def versioning_options(settings: WorkerSettings) -> dict[str, Any]:
    """The `Worker` options of this worker's versioning (none when off)."""
    version = deployment_version(settings)
    if version is None:
        return {}
    config = WorkerDeploymentConfig(
        version=version,
        use_worker_versioning=True,
        default_versioning_behavior=VersioningBehavior.PINNED,
    )
    return {"deployment_config": config}
