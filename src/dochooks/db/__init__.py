"""Storage: the engines, the schema and its migrations."""

from __future__ import annotations

from dochooks.db.engine import Connection, Database, Row, in_clause, rows_by
from dochooks.db.migrate import migrate
from dochooks.db.urls import open_database

__all__ = ["Connection", "Database", "Row", "in_clause", "migrate", "open_database", "rows_by"]
