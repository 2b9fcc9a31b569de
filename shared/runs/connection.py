"""The Temporal connection settings in the SDK's own environment names (http-api.md §14). Pure.

The spec's `TEMPORAL_TLS_CA_CERT`, `TEMPORAL_TLS_CLIENT_CERT` and `TEMPORAL_TLS_CLIENT_KEY` are the SDK's
`..._PATH` variables; an API key or any TLS file implies TLS.
"""

from __future__ import annotations

from collections.abc import Mapping

_RENAMED = {
    "TEMPORAL_TLS_CA_CERT": "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
    "TEMPORAL_TLS_CLIENT_CERT": "TEMPORAL_TLS_CLIENT_CERT_PATH",
    "TEMPORAL_TLS_CLIENT_KEY": "TEMPORAL_TLS_CLIENT_KEY_PATH",
}
_IMPLY_TLS = ("TEMPORAL_API_KEY", *_RENAMED)
DEFAULT_ADDRESS = "127.0.0.1:7233"


def sdk_environment(environ: Mapping[str, str], *, address: str | None = None) -> dict[str, str]:
    """The `TEMPORAL_*` variables for `temporalio.envconfig`, translated from ours; `address` overrides."""
    env = {key: value for key, value in environ.items() if key.startswith("TEMPORAL_")}
    for ours, theirs in _RENAMED.items():
        if env.get(ours):
            env.setdefault(theirs, env[ours])
    if "TEMPORAL_TLS" not in env and any(env.get(key) for key in _IMPLY_TLS):
        env["TEMPORAL_TLS"] = "true"
    if address is not None:
        env["TEMPORAL_ADDRESS"] = address
    env.setdefault("TEMPORAL_ADDRESS", DEFAULT_ADDRESS)
    return env
