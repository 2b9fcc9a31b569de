"""Builds the FastAPI app: settings, middleware, error handlers and routers (`uvicorn api.main:create_app --factory`).

Configuration is read and the model deck loaded in the factory, so a bad setting stops the process
before it listens.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from api.body_limit import BodyLimitMiddleware
from api.bulk_resume import ResumeJobs
from api.metrics import ApiMetrics, RequestMetricsMiddleware, install_metrics_route
from api.openapi_doc import install_openapi
from api.problems import UnexpectedErrorMiddleware, install_problem_handlers
from api.request_id import RequestIdMiddleware
from api.routes import (
    blobs,
    build_pipeline,
    build_tools,
    bulk_resume,
    console,
    crate_tools,
    meta,
    models,
    pipe_io,
    run_deliveries,
    run_events,
    run_lifecycle,
    run_result_items,
    run_resume,
    runs,
    text_tools,
    usage,
    validate,
)
from api.routes.docs import install_docs
from api.settings import ApiSettings, get_settings
from api.storage_problems import install_storage_problem_handler
from api.temporal_gateway import TemporalGateway
from api.tracing import client_interceptors, fastapi_telemetry, tracer_provider
from api.validation_cache import ValidationCache
from shared.builder.draft_check import register_builder_functions
from shared.observability.json_logs import use_json_logs
from shared.runtime.function_registry import load_entry_points, load_function_modules

logger = logging.getLogger(__name__)

# Headers a browser may read on answers when credentials are on (then "*" is not a wildcard).
_EXPOSED_HEADERS = ["X-Request-ID", "Retry-After", "Location", "Allow", "Vary"]
# uvicorn's loggers keep handlers of their own: with JSON logs, they write JSON lines too.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.access")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncGenerator[None]:
    """Process start and stop; the Temporal client will be opened and closed here."""
    settings: ApiSettings = app.state.settings
    logger.info(
        "methodflow API ready (body limit %s MiB, CORS origins %s)",
        settings.max_request_body_mib,
        ",".join(settings.cors_origins),
    )
    resume_jobs: ResumeJobs = app.state.resume_jobs
    await resume_jobs.continue_open()  # bulk resume jobs left unfinished by the last stop (issue 19)
    yield
    await resume_jobs.close()
    provider: TracerProvider | None = app.state.tracer_provider
    if provider is not None:  # the spans still batched go out before the process ends
        await asyncio.to_thread(provider.shutdown)


def _cors(settings: ApiSettings) -> Middleware:
    origins = settings.cors_origins
    any_origin = origins == ["*"]
    # "*" = any origin without credentials; an allowlist gets credentials (§14).
    return Middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_credentials=not any_origin,
        allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
        allow_headers=["*"],
        expose_headers=["*"] if any_origin else _EXPOSED_HEADERS,
        max_age=600,
    )


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """The API app for `settings` (the environment's when omitted)."""
    settings = settings or get_settings()
    model_deck = settings.load_model_deck()
    if settings.log_format == "json":
        use_json_logs(settings.log_level, loggers=UVICORN_LOGGERS)
    logging.getLogger("api").setLevel(settings.log_level)
    tracing = tracer_provider(settings)
    metrics = ApiMetrics(settings.temporal_task_queue) if settings.metrics_enabled else None
    measured = [Middleware(RequestMetricsMiddleware, metrics=metrics)] if metrics is not None else []
    interceptors = client_interceptors(tracing) + ([metrics.runs.interceptor()] if metrics else [])

    app = FastAPI(
        title="methodflow",
        summary="Runs MTHDS pipelines over HTTP, durably, on Temporal.",
        version=meta.IMPLEMENTATION_VERSION,
        lifespan=lifespan,
        # Served by api/routes/docs.py with local assets instead of FastAPI's CDN pages.
        docs_url=None,
        redoc_url=None,
        # `/v1/validate/` is a 404, not a redirect (§1).
        redirect_slashes=False,
        # A span per request when tracing is on (api/tracing.py), outside every middleware.
        telemetry=fastapi_telemetry(tracing),
        # Outermost first. The request id wraps everything so every answer carries it; the catch-all
        # sits inside CORS so even a 500 keeps its CORS headers.
        middleware=[
            Middleware(RequestIdMiddleware),
            *measured,
            _cors(settings),
            Middleware(UnexpectedErrorMiddleware),
            Middleware(BodyLimitMiddleware, max_body_bytes=settings.max_request_body_bytes),
        ],
    )
    app.state.settings = settings
    # Valid verdicts by method digest: starts of a known method skip validation (api/validation_cache.py).
    app.state.validation_cache = ValidationCache(model_deck)
    app.state.model_deck = model_deck
    app.state.tracer_provider = tracing
    app.state.temporal = gateway = TemporalGateway(settings.temporal_address, interceptors=interceptors)
    app.state.resume_jobs = ResumeJobs(settings, app.state.validation_cache, gateway)
    if metrics is not None:
        install_metrics_route(app, metrics, gateway)
    load_entry_points()
    register_builder_functions()  # the Pipe Builder's own method calls them
    load_function_modules(settings.function_modules)
    install_problem_handlers(app)
    install_storage_problem_handler(app)
    install_docs(app)
    install_openapi(app)  # the document completed with the problem answers (api/openapi_doc.py)
    app.include_router(meta.router)
    app.include_router(validate.router)
    app.include_router(models.router)
    app.include_router(usage.router)  # spend per day and pipe (issue 19)
    app.include_router(runs.router)
    app.include_router(run_lifecycle.router)
    app.include_router(run_result_items.router)
    app.include_router(run_events.router)
    app.include_router(run_deliveries.router)
    app.include_router(run_resume.router)  # resume (issue 19)
    app.include_router(bulk_resume.router)
    # The method tooling and the Pipe Builder (issue 16).
    app.include_router(pipe_io.router)
    app.include_router(crate_tools.router)
    app.include_router(text_tools.router)
    app.include_router(blobs.router)
    app.include_router(build_tools.router)
    app.include_router(build_pipeline.router)
    if settings.console_enabled:  # the web console's static pages (issue 17)
        app.include_router(console.router)
    return app
