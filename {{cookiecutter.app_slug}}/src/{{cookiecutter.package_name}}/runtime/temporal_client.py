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
#: Settings that, once given (an option or their variable), override Temporal's own config file.
_OVERRIDES = {"temporal_address": "TEMPORAL_ADDRESS", "temporal_namespace": "TEMPORAL_NAMESPACE"}


class TemporalUnreachable(RuntimeError):
    """Temporal could not be reached; the message is one plain line (``unreachable``)."""


def temporal_env(settings: Settings, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The standard ``TEMPORAL_*`` variables, with the given settings and the API key file applied.

    The key comes from ``TEMPORAL_API_KEY``, else ``TEMPORAL_API_KEY_FILE``
    (``--api-key-file``), else a file of that name in SECRETS_DIR: the Helm
    chart mounts the key as a file, never as an env value.
    """
    merged = dict(os.environ if env is None else env)
    merged.update({var: str(getattr(settings, field)) for field, var in _OVERRIDES.items()
                   if field in settings.model_fields_set})
    key_file = settings.temporal_api_key_file or settings.secrets_dir / API_KEY_FILE
    if settings.temporal_api_key_file or (not merged.get("TEMPORAL_API_KEY") and key_file.is_file()):
        merged["TEMPORAL_API_KEY"] = key_file.read_text(encoding="utf-8").strip()
    return merged


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """Client from Temporal's envconfig (profile file, ``TEMPORAL_*``) under the given settings.

    Raises ``TemporalUnreachable`` with one line that names the address.
    """
    config = ClientConfig.load_client_connect_config(settings.temporal_profile,
                                                     override_env_vars=temporal_env(settings))
    config["target_host"] = config.get("target_host") or settings.temporal_address
    config["namespace"] = config.get("namespace") or settings.temporal_namespace
    try:
        return await Client.connect(**config, data_converter=pydantic_data_converter, runtime=runtime)
    except RuntimeError as exc:
        raise TemporalUnreachable(unreachable(config["target_host"], exc)) from exc


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
