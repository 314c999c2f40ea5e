"""Typed runtime settings (pydantic-settings). RUNTIME: add a knob here, with its default and its reason.

Field ``x_y`` is read from the environment variable ``X_Y``, then from a file
named ``X_Y`` in ``SECRETS_DIR`` (a mounted Kubernetes Secret), then from its
default. Every default works on a laptop; production overrides them with
environment variables (the Helm chart renders them into a ConfigMap). The CLI
loads ``.env`` into the environment first, and its options win over all of it.

Passwords are not settings: ``secrets.py`` injects them into the DSNs at run time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

APP_SLUG = {{ cookiecutter.app_slug | tojson }}
DEFAULT_NAMESPACE = {{ cookiecutter.temporal_namespace | tojson }}
DEFAULT_TASK_QUEUE = {{ cookiecutter.task_queue | tojson }}
DEFAULT_SECRETS_DIR = Path("/var/run/secrets") / APP_SLUG


class ConfigError(ValueError):
    """A setting has a value we cannot use; the message names the variable."""


class Settings(BaseModel):
    """All runtime settings. ``Settings.load()`` reads them; ``Settings.defaults()`` ignores the environment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    temporal_address: str = Field("localhost:7233", description="Temporal frontend host:port")
    temporal_namespace: str = Field(DEFAULT_NAMESPACE, description="Temporal namespace")
    temporal_profile: str | None = Field(None, description="profile of Temporal's client config file "
                                                            "(temporal.toml) to connect with")
    temporal_api_key_file: Path | None = Field(None, description="file holding the Temporal Cloud API key "
                                                                 "(default: TEMPORAL_API_KEY in SECRETS_DIR)")
    task_queue: str = Field(DEFAULT_TASK_QUEUE, min_length=1, description="Temporal task queue")
    state_store_url: str = Field("sqlite+aiosqlite:///.state/state.db",
                                 description="checkpoint store (SQLAlchemy async URL)")
    secrets_dir: Path = Field(DEFAULT_SECRETS_DIR, description="folder of secret files (DSNs, passwords, keys)")
    output_url: str = Field("output", min_length=1, description="where this worker writes parts and manifests: "
                            "a path, file:///abs/path, s3://bucket/prefix, gs://bucket/prefix or az://container/prefix")
    batch_size: int = Field(500, ge=1, description="tables read per batch (one part file and one checkpoint each)")
    slice_size: int = Field(2000, ge=1, description="tables per slice (one activity per slice)")
    max_parallel_slices: int = Field(4, ge=1, description="slice activities running at once per child")
    slices_per_child: int = Field(200, ge=1, le=1000, description="slices per child workflow "
                                                                 "(at most 1000, to keep child histories small)")
    progress_every_seconds: float = Field(1.0, ge=0, description="how often a run publishes its progress")
    max_concurrent_activities: int = Field(4, ge=1, description="activities this worker runs at once")
    catalog_reader: Literal["auto", "generic"] = Field("auto", description="auto uses the PostgreSQL/MySQL "
                                                                           "bulk-catalog fast paths; generic does not")
    source_connect_timeout_seconds: float = Field(10.0, gt=0, description="a source's first answer, else the run fails")
    source_timeout_seconds: float = Field(300.0, gt=0, description="each later source step (planning, one page)")
    heartbeat_timeout_seconds: float = Field(30.0, gt=0, description="activity heartbeat timeout; "
                                                                     "cancellation reaches activities within it")
    activity_max_attempts: int = Field(10, ge=1, description="attempts per activity before the run fails")
    graceful_shutdown_seconds: float = Field(30.0, ge=0, description="on SIGTERM, time in-flight activities get "
                                                                     "to finish")
    health_port: int = Field(8080, ge=0, le=65535, description="port of the /livez and /readyz probes")
    metrics_port: int = Field(9464, ge=0, le=65535, description="port of the Prometheus metrics (0 disables)")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field("INFO", description="log level")
    log_format: Literal["console", "json"] = Field("console", description="console (humans) or json "
                                                                          "(one object per line)")

    @model_validator(mode="before")
    @classmethod
    def _upper_log_level(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("log_level"), str):
            data = {**data, "log_level": data["log_level"].upper()}
        return data

    @field_validator("temporal_api_key_file")
    @classmethod
    def _key_file_exists(cls, path: Path | None) -> Path | None:
        if path is not None and not path.is_file():
            raise ValueError("an existing file")
        return path

    @model_validator(mode="after")
    def _slices_hold_batches(self) -> Settings:
        if self.slice_size < self.batch_size:
            raise ValueError(f"SLICE_SIZE ({self.slice_size}) must be >= BATCH_SIZE ({self.batch_size})")
        return self

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Settings from ``overrides`` (CLI options), then the environment, then files in SECRETS_DIR.

        Raises ``ConfigError`` naming the variable, never a pydantic traceback.
        """
        if os.environ.get("OUTPUT_DIR") and not os.environ.get("OUTPUT_URL"):
            raise ConfigError("OUTPUT_DIR was renamed to OUTPUT_URL: set OUTPUT_URL to a path, file:///abs/path "
                              "or s3://bucket/prefix (it is read by workers only)")
        given = {k: v for k, v in overrides.items() if v is not None}
        secrets = Path(given.get("secrets_dir") or os.environ.get("SECRETS_DIR") or DEFAULT_SECRETS_DIR)
        with _config_errors():
            return _FromEnvironment(**given, _secrets_dir=secrets if secrets.is_dir() else None)

    @classmethod
    def defaults(cls, **overrides: Any) -> Settings:
        """The defaults plus ``overrides``, validated, with no environment read (tests, embedding)."""
        with _config_errors():
            return cls.model_validate(overrides)


class _FromEnvironment(BaseSettings, Settings):
    """The same model, filled by pydantic-settings: field ``x_y`` from ``X_Y`` or the file ``SECRETS_DIR/X_Y``."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=False)


@contextmanager
def _config_errors() -> Iterator[None]:
    """Turn pydantic's ValidationError into one ConfigError naming each bad variable."""
    try:
        yield
    except ValidationError as exc:
        raise ConfigError("; ".join(_error_line(e) for e in exc.errors())) from None


def _error_line(error: Any) -> str:
    name = "_".join(str(part) for part in error["loc"]).upper()
    message = str(error["msg"]).removeprefix("Value error, ")
    if not name:  # a model-level rule: its message names the variables
        return message
    return f"{name} must be {_lowered(message)}, got {error['input']!r}"


def _lowered(message: str) -> str:
    """pydantic's "Input should be greater than 0" as "greater than 0"."""
    return message.removeprefix("Input should be ").removeprefix("input should be ")
