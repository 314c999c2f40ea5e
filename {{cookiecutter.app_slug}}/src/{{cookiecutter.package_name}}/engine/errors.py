"""Turn driver exceptions into Temporal errors a human can act on.

Permanent problems (bad password, unknown host, missing database, missing
privilege, bad input) become *non-retryable* ``ApplicationError``s whose
message names the cause and the fix. Everything else is left alone so
Temporal's retry policy handles it as transient.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from temporalio.exceptions import ApplicationError

from ..runtime.config import Settings
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


@asynccontextmanager
async def source_call(
    source: str, settings: Settings, *, first_contact: bool = False, limit: str = "source_timeout_seconds",
) -> AsyncIterator[None]:
    """One step of reading the source (its hello, its plan, one page): bounded in time, errors translated.

    A source that accepts connections but never answers fails with a
    ``SourceTimeout`` naming the setting that gave up (``limit``, or the
    driver's connect timeout), instead of hanging until Temporal's own
    timeouts. At first contact nothing has been read and a retry rarely
    revives a dead port, so the run fails at once; mid-run a timeout is
    retried and resumes from the checkpoint.
    """
    scope = asyncio.timeout(getattr(settings, limit))
    try:
        async with scope:
            with source_errors(source):
                yield
    except TimeoutError:
        setting = limit if scope.expired() else "source_connect_timeout_seconds"  # else: the driver's own
        raise ApplicationError(
            f"source {source!r}: the source did not answer within {getattr(settings, setting):g} s "
            f"({setting.upper()}); check the host and port in {env_key(source)} and that the server is up, "
            f"or raise {setting.upper()}",
            type="SourceTimeout", non_retryable=first_contact,
        ) from None


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
