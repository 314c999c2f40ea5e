"""Temporal client connection, kept apart from ``worker.py`` so that client-only
commands (``extract``) start without importing the worker, its activities and
SQLAlchemy: at 5,000 tables the CLI's start-up is a visible share of a run.
"""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfig
from temporalio.runtime import Runtime

from .config import Settings


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """Client from the standard ``TEMPORAL_*`` variables (address, namespace, API key, TLS)."""
    config = ClientConfig.load_client_connect_config()
    config["target_host"] = config.get("target_host") or settings.temporal_address
    config["namespace"] = config.get("namespace") or settings.temporal_namespace
    return await Client.connect(**config, data_converter=pydantic_data_converter, runtime=runtime)
