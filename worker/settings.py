"""The worker process's configuration, read once from the environment (http-api.md §14, rows W and both).

The Temporal connection itself follows the SDK's environment configuration (`temporal_connection.py`).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

from pydantic import PositiveFloat, PositiveInt, SecretStr, ValidationError, field_validator
from pydantic_settings import SettingsConfigDict

from shared.callbacks.signing import signing_keys
from shared.language.model_deck import DeckError, ModelDeck, service_deck
from shared.runs.task_routes import RoutesError, TaskRouting, parse_routes
from shared.runs.tenant_budget_io import TenantLimits
from shared.runs.workflow_io import ActivityPolicy, CallbackPolicy
from shared.storage.blob_store import BlobStore
from shared.storage.storage_settings import StorageSettings
from worker.files.input_files import InputFiles
from worker.providers.registry import ProviderRegistry


class WorkerSettingsError(ValueError):
    """A setting has an unusable value; the message names the variable."""


class WorkerSettings(StorageSettings):
    """The worker process; storage settings (`DATA_DIR`, `STORAGE`...) come from `StorageSettings`."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # `json`: one JSON object a line, carrying run id, pipe and tenant where known.
    log_format: Literal["text", "json"] = "text"
    # Tracing: spans go to this OTLP/HTTP collector (base URL; `/v1/traces` is added); unset: off.
    otel_exporter_otlp_endpoint: str | None = None
    otel_service_name: str | None = None
    temporal_task_queue: str = "methodflow"
    # Worker pools (docs/design/worker-pools.md): operator kinds routed to pools' task queues
    # (`kind=pool,...`), and the pool this process polls (`all`: every queue, as one process).
    task_queue_routes: str = ""
    worker_pool: str = "all"
    # Worker versioning: both set, this worker is the version `WORKER_BUILD_ID` of the deployment.
    worker_deployment_name: str | None = None
    worker_build_id: str | None = None
    function_modules: str | None = None

    pipe_activity_timeout_seconds: PositiveFloat = 600
    pipe_activity_heartbeat_seconds: PositiveFloat = 30
    pipe_activity_max_attempts: PositiveInt = 5
    pipe_activity_initial_interval_seconds: PositiveFloat = 1
    pipe_activity_max_interval_seconds: PositiveFloat = 60
    output_inline_max_kib: PositiveInt = 256
    run_history_event_budget: PositiveInt = 40_000
    # Large batches run as child workflows over chunks of items (docs/design/large-batches.md).
    batch_inline_max_items: PositiveInt = 1000
    # Contents over this move through workflows by reference (stored once, read by activities).
    content_inline_max_kib: PositiveInt = 256
    # A batch keeps `batch_window_chunks` times `batch_chunk_concurrency` items in flight (64). Few wide
    # chunks beat many narrow ones: completions that reach one workflow together share a workflow task,
    # and workflow tasks are what a worker's CPU goes to (bench/batch.py, 2026-12-03: 8 chunks of 8 ran
    # at 0.60 of a plain sliding window on one worker, 2 of 32 at 0.90; docs/design/large-batches.md).
    batch_chunk_items: PositiveInt = 200
    batch_window_chunks: PositiveInt = 2
    batch_chunks_per_history: PositiveInt = 500
    batch_chunk_concurrency: PositiveInt = 32
    # Whether every run writes its completed operator invocations to the memo
    # (shared/storage/memo_store.py), which a resumed run reuses; off, runs resume by running again.
    memo_enabled: bool = True
    # Memo entries older than this many days are never reused (`methodflow memo purge` removes them).
    memo_retention_days: PositiveFloat = 30
    # Run budgets (issue 19): the output cap sent with the model calls of a budgeted run (or of a tenant
    # with a daily limit) whose pipe sets no `max_tokens`, so that their worst case can be reserved.
    budget_max_output_tokens: PositiveInt = 4096
    # Per-tenant limit (issue 19): the most one tenant's model calls may cost per UTC day (USD, deck
    # prices), reserved before every call by a ledger workflow per tenant, whose spend per day and pipe
    # GET /v1/usage reads; unset: no limit, and no round trip unless the other limit is set.
    tenant_max_cost_per_day_usd: PositiveFloat | None = None
    # Per-tenant limit (issue 19): the most model calls of one tenant in flight at once, over every
    # worker; a call past it waits. Unset: no limit.
    tenant_max_concurrent_model_calls: PositiveInt | None = None
    # Count every tenant's model spend per day and pipe (GET /v1/usage) even without a per-tenant limit,
    # at the price of one round trip to the tenant's ledger before and after every model call.
    tenant_usage_ledger: bool = False

    # Completion callbacks (http-api.md §10.3, §10.4, §10.5).
    completion_callback_secret: SecretStr | None = None
    allow_private_callback_urls: bool = False
    callback_attempt_timeout_seconds: PositiveFloat = 15
    callback_initial_interval_seconds: PositiveFloat = 1
    callback_backoff_coefficient: PositiveFloat = 2
    callback_max_interval_seconds: PositiveFloat = 600
    callback_retry_window_hours: PositiveFloat = 24
    callback_output_max_kib: PositiveInt = 256

    # Model providers (issue 6): the deck names models, these keys and URLs reach their providers.
    model_deck: Path | None = None
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = None

    # Files pipes read (http-api.md §4.3, §4.4): fetched by the worker, bounded, SSRF-guarded.
    max_input_file_mib: PositiveInt = 50
    allow_private_input_urls: bool = False
    input_url_timeout_seconds: PositiveFloat = 30

    worker_max_concurrent_activities: PositiveInt = 16
    worker_max_concurrent_deliveries: PositiveInt = 64
    worker_max_concurrent_workflow_tasks: PositiveInt = 64
    worker_health_port: int | None = None
    # Prometheus metrics (the Temporal SDK's and ours) at `/metrics` on this port; unset: off.
    worker_metrics_port: int | None = None
    worker_graceful_shutdown_seconds: PositiveFloat = 30
    # How long a run's next workflow task waits for the worker that cached the run before any worker
    # may take it: after a crash, runs resume this much later (the SDK's default is 10 s).
    worker_sticky_timeout_seconds: PositiveFloat = 5

    @field_validator("completion_callback_secret")
    @classmethod
    def _usable_secrets(cls, value: SecretStr | None) -> SecretStr | None:
        # Refused at start-up rather than at the first delivery: a bad `whsec_` value names itself.
        if value is not None and not signing_keys(value.get_secret_value()):
            msg = "holds no secret (give one or more comma-separated secrets)"
            raise ValueError(msg)
        return value

    @field_validator("task_queue_routes")
    @classmethod
    def _usable_routes(cls, value: str) -> str:
        parse_routes(value)  # a RoutesError (a ValueError) names the bad entry
        return value

    @property
    def routes(self) -> dict[str, str]:
        """The pool of each routed operator kind (`TASK_QUEUE_ROUTES`, checked at start-up)."""
        try:
            return parse_routes(self.task_queue_routes)
        except RoutesError as exc:  # only when built without validation (model_construct)
            raise WorkerSettingsError(str(exc)) from exc

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    def load_model_deck(self) -> ModelDeck:
        """The deck of `MODEL_DECK` over the built-in one, or the built-in one when unset;
        `WorkerSettingsError` when unusable.

        The same reading as the API's `ServiceSettings.load_model_deck` (api/ cannot be imported here): the
        file laid over the built-in deck and checked (`service_deck`), so API and workers share one deck.
        """
        if self.model_deck is None:
            return service_deck(None)
        try:
            return service_deck(self.model_deck.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            msg = f"MODEL_DECK: cannot read {self.model_deck}: {exc}"
            raise WorkerSettingsError(msg) from exc
        except DeckError as exc:
            msg = f"MODEL_DECK: {self.model_deck} is not a usable model deck: {exc}"
            raise WorkerSettingsError(msg) from exc

    def provider_registry(self) -> ProviderRegistry:
        """A registry of the configured providers; its clients are built at first use."""
        return ProviderRegistry(
            openai_api_key=_secret(self.openai_api_key),
            openai_base_url=self.openai_base_url,
            anthropic_api_key=_secret(self.anthropic_api_key),
            anthropic_base_url=self.anthropic_base_url,
        )

    def input_files(self, store: BlobStore) -> InputFiles:
        """The reader of Document and Image inputs, with this worker's limits."""
        return InputFiles(
            store,
            max_bytes=self.max_input_file_mib * 1024 * 1024,
            allow_private_urls=self.allow_private_input_urls,
            http_timeout_seconds=self.input_url_timeout_seconds,
        )

    def tenant_limits(self) -> TenantLimits | None:
        """The per-tenant limits model calls reserve against; None (no tenant ledger) when neither is set
        and usage is not asked for either."""
        if (
            self.tenant_max_cost_per_day_usd is None
            and self.tenant_max_concurrent_model_calls is None
            and not self.tenant_usage_ledger
        ):
            return None
        return TenantLimits(
            max_cost_per_day_usd=self.tenant_max_cost_per_day_usd,
            max_concurrent_calls=self.tenant_max_concurrent_model_calls,
        )

    def activity_policy(self, routing: TaskRouting | None = None) -> ActivityPolicy:
        """The policy runs started by this worker record; `routing` from `task_routes.routing_for`."""
        return ActivityPolicy(
            routing=routing or TaskRouting(),
            start_to_close_seconds=self.pipe_activity_timeout_seconds,
            heartbeat_seconds=self.pipe_activity_heartbeat_seconds,
            max_attempts=self.pipe_activity_max_attempts,
            initial_interval_seconds=self.pipe_activity_initial_interval_seconds,
            max_interval_seconds=self.pipe_activity_max_interval_seconds,
            output_inline_max_bytes=self.output_inline_max_kib * 1024,
            history_event_budget=self.run_history_event_budget,
            batch_inline_max_items=self.batch_inline_max_items,
            content_inline_max_bytes=self.content_inline_max_kib * 1024,
            batch_chunk_items=self.batch_chunk_items,
            batch_window_chunks=self.batch_window_chunks,
            batch_chunks_per_history=self.batch_chunks_per_history,
            batch_chunk_concurrency=self.batch_chunk_concurrency,
            memo_enabled=self.memo_enabled,
            memo_retention_days=self.memo_retention_days,
            callbacks=CallbackPolicy(
                attempt_timeout_seconds=self.callback_attempt_timeout_seconds,
                initial_interval_seconds=self.callback_initial_interval_seconds,
                backoff_coefficient=self.callback_backoff_coefficient,
                max_interval_seconds=self.callback_max_interval_seconds,
                retry_window_seconds=self.callback_retry_window_hours * 3600,
                output_max_bytes=self.callback_output_max_kib * 1024,
            ),
        )


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


@functools.cache
def get_worker_settings() -> WorkerSettings:
    try:
        return WorkerSettings()
    except ValidationError as exc:
        lines = [
            f"{'.'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors()
        ]
        raise WorkerSettingsError("; ".join(lines)) from exc
