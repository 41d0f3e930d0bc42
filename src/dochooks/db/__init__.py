"""Storage: the engines, the schema and its migrations."""

from __future__ import annotations

from dochooks.db.engine import Connection, Database, Row, in_clause, open_database
from dochooks.db.migrate import migrate

__all__ = ["Connection", "Database", "Row", "in_clause", "migrate", "open_database"]
