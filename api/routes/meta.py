"""Public routes about the service itself: banner, liveness and the protocol handshake (http-api.md §3)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import GatewayDep, ModelDeckDep, SettingsDep
from api.queue_pollers import unpolled_queues
from api.temporal_gateway import temporal_unavailable
from shared.runs.task_routes import parse_routes, required_queues

PROTOCOL_VERSION = "2.0.0"
# pipelex-sdk treats "pipelex-api" as a bare runner without run lifecycle (§3): never use that name.
IMPLEMENTATION = "methodflow"


def _package_version() -> str:
    try:
        return version("methodflow")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0"


IMPLEMENTATION_VERSION = _package_version()

router = APIRouter(tags=["meta"])


class Banner(BaseModel):
    message: str


class Health(BaseModel):
    status: str
    message: str


class Readiness(BaseModel):
    status: str
    temporal: str
    # The task queues of TASK_QUEUE_ROUTES and the deck's rates that no worker polls (a pool not started,
    # or scaled to zero): runs routed there wait. None when Temporal did not say.
    unpolled_task_queues: list[str] | None = None


class MethodTreeLimits(BaseModel):
    max_inline_bytes: int
    max_files: int
    max_file_bytes: int
    max_total_bytes: int


class Limits(BaseModel):
    method_tree: MethodTreeLimits


class Capabilities(BaseModel):
    run_lifecycle: bool
    cancel: bool
    events: bool
    callbacks: bool
    build: bool


class VersionInfo(BaseModel):
    """The protocol handshake clients read before choosing how to talk to the service."""

    protocol_version: str
    runner_version: str
    blob_store: bool
    implementation: str
    implementation_version: str
    runtime_version: str
    limits: Limits
    capabilities: Capabilities


@router.get("/")
async def banner() -> Banner:
    """Name the service."""
    return Banner(message="methodflow")


@router.get("/health")
async def health() -> Health:
    """Liveness: answers while the process serves HTTP, touching no dependency."""
    return Health(status="ok", message="methodflow is running")


@router.get("/ready", responses={503: {"description": "Temporal cannot be reached (runtime.unavailable)."}})
async def ready(gateway: GatewayDep, settings: SettingsDep, deck: ModelDeckDep) -> Readiness:
    """Readiness: Temporal answers a namespace describe within 2 s, else 503. The answer also names the
    task queues no worker polls; they do not make the API unready (it still accepts runs)."""
    if not await gateway.is_ready():
        raise temporal_unavailable()
    queues = required_queues(settings.temporal_task_queue, parse_routes(settings.task_queue_routes), deck)
    return Readiness(
        status="ready", temporal="ok", unpolled_task_queues=await unpolled_queues(gateway, queues)
    )


@router.get("/v1/version", openapi_extra={"x-mthds-protocol": True})
async def protocol_version(settings: SettingsDep) -> VersionInfo:
    """Protocol handshake: versions, inline limits and capabilities."""
    return VersionInfo(
        protocol_version=PROTOCOL_VERSION,
        runner_version=IMPLEMENTATION_VERSION,
        # Method files by hash (POST /v1/blobs/missing, PUT /v1/blobs/{sha256}): clients may upload large
        # trees once and send `{sha256, size}` entries (issue 16 supersedes §3's "no blob store").
        blob_store=True,
        implementation=IMPLEMENTATION,
        implementation_version=IMPLEMENTATION_VERSION,
        runtime_version=IMPLEMENTATION_VERSION,
        limits=Limits(
            method_tree=MethodTreeLimits(
                max_inline_bytes=settings.max_bundle_total_bytes,
                max_files=settings.max_bundle_files,
                max_file_bytes=settings.max_mthds_file_bytes,
                max_total_bytes=settings.max_bundle_total_bytes,
            )
        ),
        # The build routes do not exist yet; the flag turns true with the issue that adds them, so
        # clients never call a missing route.
        capabilities=Capabilities(run_lifecycle=True, cancel=True, events=True, callbacks=True, build=False),
    )


@router.get("/api/v1/pipelex_version")
async def legacy_pipelex_version(settings: SettingsDep) -> VersionInfo:
    """Legacy alias of `GET /v1/version`."""
    return await protocol_version(settings)


@router.get("/api/v1/api_version")
async def legacy_api_version(settings: SettingsDep) -> VersionInfo:
    """Legacy alias of `GET /v1/version`."""
    return await protocol_version(settings)
