"""Turn driver exceptions into Temporal errors a human can act on.

Permanent problems (bad password, unknown host, missing database, missing
privilege, bad input) become *non-retryable* ``ApplicationError``s whose
message names the cause and the fix. Everything else is left alone so
Temporal's retry policy handles it as transient.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

from temporalio.exceptions import ApplicationError

from ..runtime.secrets import env_key, redact
from .sink import OutputError

NON_RETRYABLE_TYPES = ("SourceConfigError", "SourceAuthError", "SourceNotFound",
                       "SourcePermissionError", "InvalidRequest", "OutputError")

_AUTH = ("SourceAuthError", "authentication failed or access denied; check the user, password and grants")
_NO_DB = ("SourceNotFound", "the database does not exist; check the database name in the DSN")
_NO_PRIV = ("SourcePermissionError", "the user lacks catalog privileges; grant USAGE on the schema")
_NO_DB_PRIV = ("SourcePermissionError", "the user has no privileges on this database; GRANT SELECT on it to the user")
_NO_HOST = ("SourceConfigError", "the host name does not resolve; check the host in the DSN")

# Substring of the driver message or exception class name -> (error type, hint).
_PERMANENT: dict[str, tuple[str, str]] = {
    "' to database '": _NO_DB_PRIV,  # MySQL 1044: logged in, but no grant on the database
    "invalidpassword": _AUTH,
    "invalidauthorizationspecification": _AUTH,  # e.g. PostgreSQL role without LOGIN
    "password authentication failed": _AUTH,
    "access denied for user": _AUTH,
    "invalidcatalogname": _NO_DB,
    "unknown database": _NO_DB,
    "insufficientprivilege": _NO_PRIV,
    "permission denied": _NO_PRIV,
    "name or service not known": _NO_HOST,
    "unknown mysql server host": _NO_HOST,
    "nodename nor servname": _NO_HOST,
}


def permanent(error_type: str, message: str) -> ApplicationError:
    return ApplicationError(message, type=error_type, non_retryable=True)


def classify(exc: BaseException, source: str) -> ApplicationError | None:
    """A non-retryable error for a known-permanent ``exc``, else ``None``."""
    chain = _chain(exc)
    haystack = " ".join(f"{type(e).__name__} {e}" for e in chain).lower()
    if any(isinstance(e, socket.gaierror) for e in chain):
        return _error(source, *_NO_HOST, chain)
    for needle, (error_type, hint) in _PERMANENT.items():
        if needle in haystack:
            return _error(source, error_type, hint, chain)
    return None


@contextmanager
def source_errors(source: str) -> Iterator[None]:
    """Re-raise known-permanent driver errors from the block as non-retryable."""
    try:
        yield
    except ApplicationError:
        raise
    except Exception as exc:  # classified below; re-raised when unknown
        translated = classify(exc, source)
        if translated is None:
            raise
        raise translated from None


@contextmanager
def sink_errors() -> Iterator[None]:
    """Re-raise the sink's ``OutputError`` as non-retryable: no retry creates a bucket or frees a disk."""
    try:
        yield
    except OutputError as exc:
        raise permanent("OutputError", str(exc)) from None


def _error(source: str, error_type: str, hint: str, chain: list[BaseException]) -> ApplicationError:
    detail = redact(str(chain[-1]).splitlines()[0] if str(chain[-1]) else type(chain[-1]).__name__)
    return permanent(
        error_type,
        f"source {source!r}: {hint} (configured by {env_key(source)}); driver said: {detail}",
    )


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen
