"""One logging setup for worker, activities and CLI.

``LOG_FORMAT=json`` emits one JSON object per line (production); ``console``
is one readable line per record (development). Both carry the same fields,
and in both a record is one line whatever names it quotes: the console
escapes control characters (a table named ``"a\nb"`` shows as ``a\nb``) and
indents a traceback, so only a record's first line starts at column 0.

* inside an activity, every record (from any logger, not only
  ``activity.logger``) gets ``workflow_id``, ``run_id``, ``activity``,
  ``activity_id`` and ``attempt``, plus whatever :func:`log_context` bound,
  such as ``schema``;
* records from ``workflow.logger`` get ``workflow_id``, ``run_id`` and
  ``workflow_type``. That logger is replay-safe: it stays silent while a
  worker replays history, so a line is written once per real event.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.orjson import OrjsonFormatter
from temporalio import activity, workflow

from .secrets import redact

# Fields bound by ``log_context`` for the current task (and threads it starts via to_thread).
_bound: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("log_context", default=None)

# Attributes every LogRecord has; anything else on a record is an ``extra`` field.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
# Fields shown first, in this order, by both formats.
CONTEXT_FIELDS = ("workflow_id", "run_id", "workflow_type", "activity", "activity_id", "attempt", "schema")
# Console lines stay short; JSON lines carry everything.
_CONSOLE_HIDDEN = frozenset({"run_id", "workflow_type", "activity_id"})
# The names JSON lines give the record's own fields.
_JSON_NAMES = {"asctime": "ts", "levelname": "level", "name": "logger", "exc_info": "exception",
               "stack_info": "stack"}
# C0 and C1 controls, DEL and the Unicode line separators, spelled as escapes on the console.
_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))} | {
    ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t", 0x2028: "\\u2028", 0x2029: "\\u2029"}


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add ``fields`` to every record logged inside the block, from any logger."""
    token = _bound.set({**(_bound.get() or {}), **fields})
    try:
        yield
    finally:
        _bound.reset(token)


def context_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The Temporal and bound fields of ``record``, flattened, with stable names."""
    fields: dict[str, Any] = {}
    wf = getattr(record, "temporal_workflow", None)
    if isinstance(wf, dict):
        fields.update(workflow_id=wf.get("workflow_id"), run_id=wf.get("run_id"),
                      workflow_type=wf.get("workflow_type"))
    act = getattr(record, "temporal_activity", None)
    if isinstance(act, dict):
        fields.update(workflow_id=act.get("workflow_id"), run_id=act.get("workflow_run_id"),
                      workflow_type=act.get("workflow_type"), activity=act.get("activity_type"),
                      activity_id=act.get("activity_id"), attempt=act.get("attempt"))
    for key, value in vars(record).items():
        if key not in _STANDARD and not key.startswith("temporal_") and key not in ("activity_info", "workflow_info"):
            fields[key] = value
    return {k: v for k, v in fields.items() if v is not None}


class TemporalContextFilter(logging.Filter):
    """Stamp activity identity and bound fields on every record, whichever logger made it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if activity.in_activity() and not hasattr(record, "temporal_activity"):
            info = activity.info()
            record.temporal_activity = {
                "workflow_id": info.workflow_id, "workflow_run_id": info.workflow_run_id,
                "workflow_type": info.workflow_type, "activity_type": info.activity_type,
                "activity_id": info.activity_id, "attempt": info.attempt,
            }
        for key, value in (_bound.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class JsonFormatter(OrjsonFormatter):
    """python-json-logger on orjson, one object per line: ts, level, logger, message, the context, exception.

    The library builds and serializes the record; this names the fields, puts the
    Temporal context in its order and redacts DSNs.
    """

    default_time_format, default_msec_format = "%Y-%m-%dT%H:%M:%S", "%s.%03dZ"

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s", rename_fields=_JSON_NAMES,
                         reserved_attrs=[*RESERVED_ATTRS, "activity_info", "workflow_info"])
        self.converter = time.gmtime  # ISO 8601 in UTC with milliseconds: 2026-11-23T13:20:32.187Z

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        super().add_fields(log_data, record, message_dict)
        head = {key: log_data.pop(key) for key in ("ts", "level", "logger", "message")}
        context = _ordered(context_fields(record))  # the record's extras, the SDK's flattened
        rest = {k: v for k, v in log_data.items() if k not in context and not k.startswith("temporal_")}
        log_data.clear()
        log_data.update({**head, "level": record.levelname.lower(), **context, **rest})

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        return {k: redact(v) if isinstance(v, str) else v for k, v in log_data.items()}


class ConsoleFormatter(logging.Formatter):
    """``time level logger: message [key=value ...]`` for humans, one line per record."""

    default_time_format, default_msec_format = "%H:%M:%S", "%s.%03d"  # 13:20:32.187, local time

    def format(self, record: logging.LogRecord) -> str:
        line = f"{self.formatTime(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        fields = {k: v for k, v in _ordered(context_fields(record)).items() if k not in _CONSOLE_HIDDEN}
        if fields:
            line += " [" + " ".join(f"{k}={v}" for k, v in fields.items()) + "]"
        tail = self.formatException(record.exc_info).split("\n") if record.exc_info else []
        tail += self.formatStack(record.stack_info).split("\n") if record.stack_info else []
        return redact("\n    ".join(escape(text) for text in (line, *tail)))


def escape(text: str) -> str:
    """``text`` with control characters as escapes, so a hostile name cannot fake a log line."""
    return text.translate(_ESCAPES)


def _ordered(fields: dict[str, Any]) -> dict[str, Any]:
    first = {k: fields[k] for k in CONTEXT_FIELDS if k in fields}
    return {**first, **{k: v for k, v in fields.items() if k not in first}}


def build_handler(fmt: str = "console", stream: Any = None) -> logging.Handler:
    """A handler with our formatter and context filter; ``stream`` defaults to stderr."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    handler.addFilter(TemporalContextFilter())
    return handler


def configure_logging(level: str = "INFO", fmt: str = "console", stream: Any = None) -> None:
    """Route every logger through one handler. Call once, at process start."""
    # Our formatters print the Temporal context as fields; don't also append it to messages.
    activity.logger.activity_info_on_message = False
    workflow.logger.workflow_info_on_message = False
    root = logging.getLogger()
    root.handlers[:] = [build_handler(fmt, stream)]
    root.setLevel(level.upper())
    # httpx logs every request at INFO (each page of the REST source): keep those for DEBUG.
    logging.getLogger("httpx").setLevel(logging.NOTSET if root.level <= logging.DEBUG else logging.WARNING)  # variant: source=rest
