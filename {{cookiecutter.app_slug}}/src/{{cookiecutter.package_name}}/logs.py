"""One logging setup for worker, activities and CLI.

``LOG_FORMAT=json`` emits one JSON object per line (production);
``console`` is for humans. Temporal's activity/workflow loggers attach
their context (workflow id, run id, activity, attempt) which we flatten.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from .secrets import redact

_CONTEXT_KEYS = ("temporal_activity", "temporal_workflow")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for key in _CONTEXT_KEYS:
            context = getattr(record, key, None)
            if isinstance(context, dict):
                payload.update(context)
        if record.exc_info:
            payload["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(payload, default=str)


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging(level: str = "INFO", fmt: str = "console") -> None:
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
