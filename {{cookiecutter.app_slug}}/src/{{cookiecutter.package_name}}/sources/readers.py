"""Pick the catalog reader for an engine: a dialect fast path, else the generic one.

``CATALOG_READER=generic`` forces SQLAlchemy reflection everywhere, an
escape hatch if a fast path ever disagrees with a server.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from .sql import CatalogReader

READER_MODES = ("auto", "generic")


def select_reader(engine: AsyncEngine, database: str, mode: str = "auto") -> CatalogReader:
    """Bulk catalog queries for PostgreSQL (asyncpg) and MySQL/MariaDB; reflection otherwise."""
    if mode == "generic":
        return CatalogReader(engine, database)
    dialect = engine.dialect
    if dialect.name == "postgresql" and dialect.driver == "asyncpg":
        from .postgres import PostgresCatalogReader

        return PostgresCatalogReader(engine, database)
    # >>> variant: source=mysql
    if dialect.name in ("mysql", "mariadb") and dialect.driver == "aiomysql":
        from .mysql import MySQLCatalogReader

        return MySQLCatalogReader(engine, database)
    # <<< variant
    return CatalogReader(engine, database)


def database_label(url: URL) -> str:
    """Name used as the first part of every qualified name."""
    if url.get_backend_name() == "sqlite":
        return Path(url.database or "memory").stem or "memory"
    return url.database or url.host or "default"
