"""Which ``Source`` serves a DSN: chosen by the DSN's URL scheme.

YOUR ROOM. To add a source, write its class (see ``base.py``) and add its
schemes to ``SCHEMES`` below. The builder gets the source's name (for error
messages), its DSN and separate password (see ``runtime/secrets.py``) and the
worker's settings; it must not connect yet: sources connect on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..runtime.secrets import SourceConfigError, env_key, sql_url

if TYPE_CHECKING:
    from ..runtime.config import Settings
    from .base import Source

Builder = Callable[[str, str, "str | None", "Settings"], "Source"]
#: The driver's connect-timeout argument (SOURCE_CONNECT_TIMEOUT_SECONDS), per SQL backend.
CONNECT_TIMEOUT_ARGS = {"postgresql": "timeout", "mysql": "connect_timeout", "mariadb": "connect_timeout"}


def sql_source(name: str, dsn: str, password: str | None, settings: Settings) -> Source:
    """A SQL catalog behind a pooled SQLAlchemy engine; the reader fits its dialect."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from .catalog import CatalogSource
    from .readers import database_label, select_reader

    url = sql_url(env_key(name), dsn, password)
    timeout = CONNECT_TIMEOUT_ARGS.get(url.get_backend_name())
    connect_args = {timeout: settings.source_connect_timeout_seconds} if timeout else {}
    try:
        engine = create_async_engine(url, pool_pre_ping=True, connect_args=connect_args)
    except ModuleNotFoundError as exc:  # a driver this rendering does not install: no retry can help
        raise SourceConfigError(
            f"{env_key(name)}: the {url.get_backend_name()} driver ({exc.name}) is not installed in this app; "
            f"add it to the app's dependencies (pyproject.toml) or point {env_key(name)} at a supported database"
        ) from None
    return CatalogSource(select_reader(engine, database_label(url), settings.catalog_reader), name)


# >>> variant: source=rest
def rest_source(name: str, dsn: str, password: str | None, settings: Settings) -> Source:
    """A paged JSON HTTP API; its endpoints are listed in ``rest.py``, its token is the password."""
    from .rest import RestSource

    return RestSource.from_dsn(name, dsn, password)


# <<< variant
SCHEMES: dict[str, Builder] = {
    "postgresql": sql_source, "postgres": sql_source, "mysql": sql_source, "mariadb": sql_source,
    "sqlite": sql_source,
    "http": rest_source, "https": rest_source,  # variant: source=rest
}


def open_source(name: str, dsn: str, password: str | None, settings: Settings) -> Source:
    """Build the source for ``dsn``; an unknown scheme names the ones this app knows."""
    scheme = dsn.partition(":")[0].partition("+")[0].lower()
    builder = SCHEMES.get(scheme)
    if builder is None:
        raise SourceConfigError(
            f"{env_key(name)}: no source for the scheme {scheme!r}; this app knows {', '.join(sorted(SCHEMES))}"
        )
    return builder(name, dsn, password, settings)
