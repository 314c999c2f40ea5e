"""Temporal client connection, kept apart from ``worker.py`` so that client-only
commands (``extract``, ``status``, ``cancel``) start without importing the worker,
its activities and SQLAlchemy: at 5,000 tables the CLI's start-up is a visible
share of a run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfig
from temporalio.runtime import Runtime

from .config import Settings

API_KEY_FILE = "TEMPORAL_API_KEY"


def temporal_env(settings: Settings, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The standard ``TEMPORAL_*`` variables, plus ``TEMPORAL_API_KEY`` from a file in SECRETS_DIR.

    The Helm chart mounts the API key as a file (never an env value); the file
    has the variable's name, like the ``SOURCE_<NAME>_DSN`` files.
    """
    merged = dict(os.environ if env is None else env)
    key_file = settings.secrets_dir / API_KEY_FILE
    if not merged.get("TEMPORAL_API_KEY") and key_file.is_file():
        merged["TEMPORAL_API_KEY"] = key_file.read_text(encoding="utf-8").strip()
    return merged


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """Client from the standard ``TEMPORAL_*`` variables (address, namespace, API key, TLS)."""
    config = ClientConfig.load_client_connect_config(override_env_vars=temporal_env(settings))
    config["target_host"] = config.get("target_host") or settings.temporal_address
    config["namespace"] = config.get("namespace") or settings.temporal_namespace
    return await Client.connect(**config, data_converter=pydantic_data_converter, runtime=runtime)


# The Rust core's errors read like `...ConnectError("tcp connect error", ..., message: "Connection refused" })`.
_CORE_MESSAGE = re.compile(r'message: "([^"]+)"')


def unreachable(address: str, exc: BaseException) -> str:
    """One plain line for a failed connect: where, why, and what to check."""
    text = str(exc)
    if "dns error" in text or "failed to lookup address" in text:
        cause = "the host name does not resolve"
    elif "Timeout expired" in text or "TimeoutExpired" in text:
        cause = "no answer in time (is that a Temporal frontend port?)"
    elif found := _CORE_MESSAGE.search(text):
        cause = found[1].lower()
    else:
        cause = text.splitlines()[0].removeprefix("Failed client connect: ") if text else type(exc).__name__
    return f"cannot reach Temporal at {address}: {cause}; check TEMPORAL_ADDRESS and that the server is up"
