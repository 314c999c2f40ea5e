"""Prometheus metrics: the Temporal SDK's own, plus what this app extracted.

There is one exporter, the Temporal runtime's, so app counters go through the
same meter (``activity.metric_meter()``); inside an activity it already tags
every sample with namespace, task queue and activity type. The SDK's exporter
publishes counters under exactly these names (no ``_total`` suffix).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import ParamSpec, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

P = ParamSpec("P")
R = TypeVar("R")

UNITS = "extractor_units_extracted"
RECORDS = "extractor_records_extracted"
PAGES = "extractor_pages_extracted"
ERRORS = "extractor_activity_errors"


def metrics_runtime(port: int, host: str = "0.0.0.0") -> Runtime | None:
    """A runtime exporting on ``host:port``; ``0.0.0.0`` so a pod's scraper can reach it. 0 disables."""
    if port == 0:
        return None
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"{host}:{port}")))


def record_page(counts: Mapping[str, int], units: int) -> None:
    """Count one written page, its units (tables, for SQL) and its records by kind."""
    meter = activity.metric_meter()
    meter.create_counter(PAGES, "Pages (batches) written to the sink").add(1)
    meter.create_counter(UNITS, "Units extracted: tables and views of a SQL source").add(units)
    records = meter.create_counter(RECORDS, "Records extracted, by kind")
    for kind, n in counts.items():
        records.add(n, {"kind": kind})


def record_error(exc: BaseException) -> None:
    """Count a failed activity attempt by error type (e.g. SourceUnreachable)."""
    error_type = (exc.type if isinstance(exc, ApplicationError) else None) or type(exc).__name__
    activity.metric_meter().create_counter(ERRORS, "Failed activity attempts").add(1, {"error_type": error_type})


def count_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Decorate an async activity so each failed attempt is counted (cancellation is not a failure)."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except Exception as exc:
            record_error(exc)
            raise

    return wrapper
