"""Typed runtime settings, read once from the environment and an optional ``.env``.

Every knob has a default that works on a laptop; production overrides them
with environment variables (the Helm chart renders them into a ConfigMap).
Secrets are *not* settings: see ``secrets.py``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from dotenv import dotenv_values

APP_SLUG = {{ cookiecutter.app_slug | tojson }}
DEFAULT_NAMESPACE = {{ cookiecutter.temporal_namespace | tojson }}
DEFAULT_TASK_QUEUE = {{ cookiecutter.task_queue | tojson }}


class ConfigError(ValueError):
    """A setting has a value we cannot use; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """All runtime settings. Field ``x_y`` is read from env var ``X_Y``."""

    temporal_address: str = "localhost:7233"
    temporal_namespace: str = DEFAULT_NAMESPACE
    task_queue: str = DEFAULT_TASK_QUEUE
    state_store_url: str = "sqlite+aiosqlite:///.state/state.db"
    secrets_dir: Path = Path(f"/var/run/secrets/{APP_SLUG}")
    output_url: str = "output"
    batch_size: int = 200
    slice_size: int = 2000
    max_parallel_slices: int = 4
    slices_per_child: int = 200
    progress_every_seconds: float = 1.0
    max_concurrent_activities: int = 4
    catalog_reader: str = "auto"
    source_connect_timeout_seconds: float = 10.0
    source_timeout_seconds: float = 300.0
    heartbeat_timeout_seconds: float = 30.0
    activity_max_attempts: int = 10
    graceful_shutdown_seconds: float = 30.0
    health_port: int = 8080
    metrics_port: int = 9464
    log_level: str = "INFO"
    log_format: str = "console"

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        dotenv_path: str | os.PathLike[str] | None = ".env",
    ) -> Settings:
        """Build settings from ``env`` (default ``os.environ``) over ``.env`` values.

        Real environment variables win over ``.env`` so a deployment can
        always override a checked-in file.
        """
        merged = _merged_env(env, dotenv_path)
        if merged.get("OUTPUT_DIR") and not merged.get("OUTPUT_URL"):
            raise ConfigError("OUTPUT_DIR was renamed to OUTPUT_URL: set OUTPUT_URL to a path, file:///abs/path "
                              "or s3://bucket/prefix (it is read by workers only)")
        values: dict[str, object] = {}
        for field in fields(cls):
            raw = merged.get(field.name.upper())
            if raw is not None and raw != "":
                values[field.name] = _coerce(field.name, str(field.type), raw)
        settings = cls(**values)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        """Reject values that would only fail later, far from their cause."""
        for name in ("batch_size", "slice_size", "max_parallel_slices", "slices_per_child",
                     "max_concurrent_activities", "activity_max_attempts"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name.upper()} must be >= 1, got {getattr(self, name)}")
        if self.slice_size < self.batch_size:
            raise ConfigError(
                f"SLICE_SIZE ({self.slice_size}) must be >= BATCH_SIZE ({self.batch_size})"
            )
        if self.progress_every_seconds < 0:
            raise ConfigError("PROGRESS_EVERY_SECONDS must be >= 0")
        if self.slices_per_child > 1000:
            raise ConfigError("SLICES_PER_CHILD must be <= 1000 to keep child histories small")
        for name in ("heartbeat_timeout_seconds", "source_connect_timeout_seconds", "source_timeout_seconds"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name.upper()} must be > 0, got {getattr(self, name)}")
        if self.catalog_reader not in ("auto", "generic"):
            raise ConfigError(f"CATALOG_READER must be 'auto' or 'generic', got {self.catalog_reader!r}")
        if self.log_format not in ("console", "json"):
            raise ConfigError(f"LOG_FORMAT must be 'console' or 'json', got {self.log_format!r}")


def _merged_env(
    env: Mapping[str, str] | None, dotenv_path: str | os.PathLike[str] | None
) -> dict[str, str]:
    merged: dict[str, str] = {}
    if dotenv_path is not None and Path(dotenv_path).is_file():
        merged.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    merged.update(os.environ if env is None else env)
    return merged


def _coerce(name: str, type_name: str, raw: str) -> object:
    try:
        if type_name == "int":
            return int(raw)
        if type_name == "float":
            return float(raw)
        if type_name == "Path":
            return Path(raw)
    except ValueError:
        kind = {"int": "an integer", "float": "a number"}.get(type_name, type_name)
        raise ConfigError(f"{name.upper()} must be {kind}, got {raw!r}") from None
    return raw
