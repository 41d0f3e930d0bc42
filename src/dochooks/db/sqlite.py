"""SQLite, the embedded default: WAL, one writer under a lock, reads from a connection per thread."""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dochooks.db.dialects import SQLITE
from dochooks.db.engine import Connection, Hooks, Params, Row
from dochooks.errors import DatabaseClosed, StorageError
from dochooks.private_files import private_dir, private_file, tighten


def _dict_factory(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> Row:
    return {col[0]: value for col, value in zip(cursor.description, row, strict=True)}


class _SqliteConnection(Hooks):
    dialect = SQLITE

    def __init__(self, raw: sqlite3.Connection) -> None:
        super().__init__()
        self.raw = raw

    def all(self, sql: str, params: Params = None) -> list[Row]:
        return self.raw.execute(sql, params or {}).fetchall()

    def one(self, sql: str, params: Params = None) -> Row | None:
        row: Row | None = self.raw.execute(sql, params or {}).fetchone()
        return row

    def run(self, sql: str, params: Params = None) -> int:
        return self.raw.execute(sql, params or {}).rowcount

    def queue(self, sql: str, params: Params = None) -> None:
        self.raw.execute(sql, params or {})

    def many(self, sql: str, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            self.raw.executemany(sql, rows)

    def notify(self, channel: str) -> None:
        """No other process listens: the one that owns the file wakes itself (`after_commit`)."""


class SqliteDatabase:
    """SQLite in WAL mode. Every write goes through one connection under a lock
    (`BEGIN IMMEDIATE`), so writers queue in-process instead of failing busy; processes
    sharing the file (`serve`'s API and background) queue on `<file>.write.lock`, which
    hands the writer on at once where SQLite's busy handler would sleep and retry."""

    dialect = SQLITE

    def __init__(self, path: str) -> None:
        self.path = path
        if path != ":memory:":
            # Made 0600 before SQLite opens it: SQLite gives the -wal and -shm files its mode.
            private_dir(Path(path).parent, tighten_existing=False)  # maybe a shared directory
            private_file(Path(path))
            for companion in ("-wal", "-shm"):  # left by an earlier version, which made them 0644
                tighten(Path(path + companion))
        self._write_lock = threading.Lock()
        self._writers_fd: int | None = None  # <file>.write.lock, opened at the first write
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._closed = False

    def _open(self) -> sqlite3.Connection:
        raw = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        raw.row_factory = _dict_factory
        raw.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed attempt survives a power cut, not just a process crash.
        raw.execute("PRAGMA synchronous=FULL")
        raw.execute("PRAGMA foreign_keys=ON")
        raw.execute("PRAGMA busy_timeout=30000")
        with self._all_lock:
            if not self._closed:
                self._all.append(raw)
                return raw
        raw.close()  # close() ran while this one opened, and could not close it
        raise DatabaseClosed(f"the database {self.path} is closed")

    def _refuse_if_closed(self) -> None:
        if self._closed:
            raise DatabaseClosed(f"the database {self.path} is closed")

    def _thread_connection(self) -> sqlite3.Connection:
        self._refuse_if_closed()
        raw: sqlite3.Connection | None = getattr(self._local, "raw", None)
        if raw is None:
            raw = self._local.raw = self._open()
        return raw

    @contextmanager
    def _writer_of_every_process(self) -> Iterator[None]:
        if self.path == ":memory:":  # no other process can open it
            yield
            return
        if self._writers_fd is None:
            self._writers_fd = os.open(self.path + ".write.lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._writers_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._writers_fd, fcntl.LOCK_UN)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self._write_lock, self._writer_of_every_process():
            conn = _SqliteConnection(self._thread_connection())
            try:
                conn.raw.execute("BEGIN IMMEDIATE")
                yield conn
                conn.raw.execute("COMMIT")
            except BaseException:
                if conn.raw.in_transaction:
                    conn.raw.execute("ROLLBACK")
                raise
        conn.fire()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A consistent snapshot for reading, without waiting for the writer (WAL)."""
        conn = _SqliteConnection(self._thread_connection())
        conn.raw.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.raw.execute("COMMIT")

    async def listen(self, channel: str, on_notify: Callable[[], None]) -> None:
        """SQLite has no notifications between processes; in-process wake-ups do the job."""
        self._refuse_if_closed()
        await asyncio.Future()

    @contextmanager
    def own(self) -> Iterator[None]:
        """Hold `<file>.dispatcher.lock` until exit: a second process dispatching from the file
        would take the first one's leases for a dead process's."""
        self._refuse_if_closed()
        fd = os.open(self.path + ".dispatcher.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(fd)
            raise StorageError(
                f"another dochooks process already dispatches from {self.path}; SQLite allows one "
                "(use PostgreSQL for several workers)"
            ) from exc
        try:
            yield
        finally:
            os.close(fd)  # releases the lock

    def reclaim(self, tables: Sequence[str]) -> None:
        """Nothing to do: SQLite puts deleted rows' pages on its freelist and reuses them."""

    def close(self) -> None:
        """Close every connection; from now on every use raises `DatabaseClosed`."""
        with self._all_lock:
            self._closed = True
            for raw in self._all:
                raw.close()
            self._all.clear()
        if self._writers_fd is not None:
            os.close(self._writers_fd)
            self._writers_fd = None
        self._local = threading.local()
