"""The API process's configuration, read once from the environment (http-api.md §14).

Invalid values stop the process at start-up with a message naming the environment variable.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Literal

from pydantic import (
    AliasChoices,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import SettingsConfigDict

from api.auth import SINGLE_TENANT, AuthMode
from shared.callbacks.signing import signing_keys
from shared.language.model_deck import DeckError, ModelDeck, service_deck
from shared.runs.task_routes import parse_routes
from shared.storage.storage_settings import StorageSettings

_TENANT_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class SettingsError(ValueError):
    """A setting has an unusable value; the message starts with the variable's name."""


class ServiceSettings(StorageSettings):
    """What every methodflow process reads: logging, the model deck and storage (`StorageSettings`)."""

    # No env file: the process environment is the single source, so tests and deployments agree.
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # `json`: one JSON object a line, carrying run id, request id, pipe and tenant where known.
    log_format: Literal["text", "json"] = "text"
    # Tracing: spans go to this OTLP/HTTP collector (base URL; `/v1/traces` is added); unset: off.
    otel_exporter_otlp_endpoint: str | None = None
    otel_service_name: str | None = None
    model_deck: Path | None = None
    # Operator kinds routed to worker pools' task queues: `kind=pool,...` (docs/design/worker-pools.md).
    task_queue_routes: str = ""

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    def load_model_deck(self) -> ModelDeck:
        """The service's deck (`service_deck`): `MODEL_DECK` laid over the built-in deck, or the built-in
        one when unset; `SettingsError` naming the file and the fault when unusable."""
        if self.model_deck is None:
            return service_deck(None)
        try:
            text = self.model_deck.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            msg = f"MODEL_DECK: cannot read {self.model_deck}: {exc}"
            raise SettingsError(msg) from exc
        try:
            return service_deck(text)
        except DeckError as exc:
            msg = f"MODEL_DECK: {self.model_deck} is not a usable model deck: {exc}"
            raise SettingsError(msg) from exc


class ApiSettings(ServiceSettings):
    """The API process: listen address, CORS, authentication (§3b) and the request limits of §4.4."""

    host: str = "0.0.0.0"  # noqa: S104 -- the service is meant to be reached from other hosts (§14 default)
    port: int = 8081
    cors_allow_origins: str = "*"

    # None = unset, so that legacy `USE_JWT` can still choose; read the mode from `effective_auth_mode`.
    auth_mode: AuthMode | None = None
    use_jwt: bool | None = None
    # Secrets: SecretStr keeps them out of reprs and logs.
    # `API_KEY` or `API_KEYS`: comma-separated `key` or `tenant:key` entries (see `api_keys`).
    api_key: SecretStr | None = Field(default=None, validation_alias=AliasChoices("api_key", "api_keys"))
    jwt_secret_key: SecretStr | None = None
    jwt_leeway_seconds: NonNegativeInt = 30

    max_request_body_mib: PositiveInt = 100
    max_mthds_file_kib: PositiveInt = 1024
    max_mthds_files_per_request: PositiveInt = 16
    max_bundle_files: PositiveInt = 128
    max_bundle_total_kib: PositiveInt = 8192
    max_pipe_code_len: PositiveInt = 256
    max_callback_urls: PositiveInt = 5
    max_callback_url_len: PositiveInt = 2048
    max_input_file_mib: PositiveInt = 50
    # The most items a list input may hold: a longer one is refused before any run starts.
    batch_max_items: PositiveInt = 1_000_000
    # An input whose content is over this is stored before the run starts and moves by reference.
    content_inline_max_kib: PositiveInt = 256

    # Runs (§14): where they go, how long `/execute` waits, how long a run may take.
    temporal_address: str | None = None
    temporal_task_queue: str = "methodflow"
    execute_wait_seconds: PositiveFloat = 1140
    run_timeout_seconds: PositiveFloat = 21600
    public_base_url: str | None = None
    completion_callback_secret: SecretStr | None = None
    # §10.5: lift the SSRF address rule (local development, tests); the scheme rule stays.
    allow_private_callback_urls: bool = False
    allow_private_input_urls: bool = False
    function_modules: str | None = None

    # Fairness and limits (issue 15): the most runs a tenant may have running at once (0: no limit).
    tenant_max_concurrent_runs: NonNegativeInt = 0
    # Bulk resume (issue 19): how many runs a `POST /v1/runs/resume` job resumes per second, at most.
    bulk_resume_rate_per_second: PositiveFloat = 5
    # Bulk resume: the most runs one job may match; a filter matching more is refused (422), nothing started.
    bulk_resume_max_runs: PositiveInt = 10000
    # Prometheus metrics at `/metrics` on the API's port.
    metrics_enabled: bool = True
    # The web console at `/console` (static pages calling this API; `CONSOLE_ENABLED=false`: 404).
    console_enabled: bool = True

    # Method files by hash (issue 16): the key signing upload targets (unset: one random key per
    # process, so targets do not cross instances or restarts) and how long a target lives.
    blob_upload_signing_key: SecretStr | None = None
    blob_upload_url_ttl_seconds: PositiveInt = 3600

    # The Pipe Builder (§11.1): its model (a deck reference), default repair rounds, longest brief,
    # and how long `/v1/build/pipeline` waits for a build before answering 504 with the run's id.
    builder_model: str = "@default-premium"
    builder_max_repairs: int = Field(default=3, ge=0, le=5)
    max_brief_chars: PositiveInt = 8000
    build_timeout_seconds: PositiveFloat = 300

    @property
    def max_input_file_bytes(self) -> int:
        return self.max_input_file_mib * 1024 * 1024

    @field_validator("completion_callback_secret")
    @classmethod
    def _usable_secrets(cls, value: SecretStr | None) -> SecretStr | None:
        # Refused at start-up rather than at the first callback: a bad `whsec_` value names itself.
        if value is not None and not signing_keys(value.get_secret_value()):
            msg = "COMPLETION_CALLBACK_SECRET holds no secret (give one or more comma-separated secrets)"
            raise ValueError(msg)
        return value

    @field_validator("task_queue_routes")
    @classmethod
    def _usable_routes(cls, value: str) -> str:
        parse_routes(value)  # a RoutesError (a ValueError) names the bad entry
        return value

    @field_validator("api_key")
    @classmethod
    def _usable_api_keys(cls, value: SecretStr | None) -> SecretStr | None:
        # A malformed entry names its position, never its text: it may be a key.
        if value is None:
            return value
        for position, entry in enumerate(value.get_secret_value().split(","), start=1):
            if not entry.strip():
                continue
            tenant, key = _key_entry(entry)
            if not key:
                msg = f"API_KEY entry {position} has a tenant but no key (write tenant:key)"
                raise ValueError(msg)
            if ":" in entry and (not _TENANT_NAME.match(tenant) or tenant == SINGLE_TENANT):
                msg = (
                    f"API_KEY entry {position} names an unusable tenant (1-64 letters, digits, '.', '_' "
                    f"or '-', not '{SINGLE_TENANT}')"
                )
                raise ValueError(msg)
        return value

    @field_validator("auth_mode", mode="before")
    @classmethod
    def _known_auth_mode(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        normalized = value.strip().lower()
        if not normalized:
            # `AUTH_MODE=` (set but empty, as compose files often leave it) means unset.
            return None
        if normalized not in set(AuthMode):
            # A custom error: pydantic's own message would not name the variable outside `get_settings()`.
            error_type, template = "auth_mode", "AUTH_MODE accepts only {valid} (in any case)"
            raise PydanticCustomError(error_type, template, {"valid": ", ".join(AuthMode)})
        return normalized

    @property
    def effective_auth_mode(self) -> AuthMode:
        """`AUTH_MODE`; when unset, `jwt` if legacy `USE_JWT` is true, else `none` (§3b)."""
        if self.auth_mode is not None:
            return self.auth_mode
        return AuthMode.JWT if self.use_jwt else AuthMode.NONE

    @property
    def api_keys(self) -> tuple[tuple[str, str], ...]:
        """The accepted bearer keys of `API_KEY` as `(tenant, key)` pairs; empty when unset.

        Entries are comma-separated; `tenant:key` names the key's tenant, a plain `key` belongs to the
        one unnamed tenant (`single-tenant`, as every key did before tenants could be named). Several
        entries may share a tenant (rotation).
        """
        if self.api_key is None:
            return ()
        return tuple(
            _key_entry(entry) for entry in self.api_key.get_secret_value().split(",") if entry.strip()
        )

    @property
    def cors_origins(self) -> list[str]:
        """The allowlist, or `["*"]` for any origin (then without credentials)."""
        origins = [origin.strip() for origin in self.cors_allow_origins.split(",") if origin.strip()]
        return ["*"] if not origins or "*" in origins else origins

    @property
    def content_inline_max_bytes(self) -> int:
        return self.content_inline_max_kib * 1024

    @property
    def max_request_body_bytes(self) -> int:
        return self.max_request_body_mib * 1024 * 1024

    @property
    def max_mthds_file_bytes(self) -> int:
        return self.max_mthds_file_kib * 1024

    @property
    def max_bundle_total_bytes(self) -> int:
        return self.max_bundle_total_kib * 1024


def _key_entry(entry: str) -> tuple[str, str]:
    """`tenant:key` → (tenant, key); a plain key → (`single-tenant`, key)."""
    tenant, separator, key = entry.strip().partition(":")
    if not separator:
        return SINGLE_TENANT, tenant
    return tenant.strip(), key.strip()


@functools.cache
def get_settings() -> ApiSettings:
    """The process's settings, built on first use; tests call `get_settings.cache_clear()`."""
    try:
        return ApiSettings()
    except ValidationError as exc:
        raise SettingsError(describe_invalid_settings(exc)) from exc


def describe_invalid_settings(exc: ValidationError) -> str:
    """One line per bad variable, named as it is spelled in the environment."""
    lines = [
        f"{'.'.join(str(part) for part in error['loc']).upper()}: {error['msg']}" for error in exc.errors()
    ]
    return "; ".join(lines)
