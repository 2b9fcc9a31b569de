"""Connecting a worker to Temporal: the SDK's environment configuration and the pydantic converter."""

from __future__ import annotations

import os

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfigProfile

from shared.runs.connection import sdk_environment


async def connect(address: str | None = None) -> Client:
    """A client for `address`, else `TEMPORAL_ADDRESS` (namespace, TLS, API key from the environment)."""
    profile = ClientConfigProfile.load(
        disable_file=True, override_env_vars=sdk_environment(os.environ, address=address)
    )
    return await Client.connect(**profile.to_client_connect_config(), data_converter=pydantic_data_converter)
