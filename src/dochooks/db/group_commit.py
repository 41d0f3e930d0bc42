"""Group commit: small, independent transactions from many threads committed together.

A commit costs a disk flush (SQLite in FULL mode, PostgreSQL by default), a few
milliseconds each, one at a time: uploads committed one by one queue behind each other's
flushes. Here whichever thread gets the writer first commits the work every other thread
queued meanwhile, with one flush. Each piece of work runs in a savepoint of its own, so one
that fails rolls back alone and only its caller gets its error; each caller returns once
the commit that holds its work is durable."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from dochooks.db.engine import Connection, Database

T = TypeVar("T")


class _Work(Generic[T]):
    def __init__(self, work: Callable[[Connection], T]) -> None:
        self.work = work
        self.settled = False
        self.result: T | None = None
        self.error: BaseException | None = None

    def run(self, conn: Connection) -> None:
        conn.run("SAVEPOINT grouped")
        try:
            self.result = self.work(conn)
        except Exception as exc:  # its own failure: the others' work still commits
            conn.run("ROLLBACK TO SAVEPOINT grouped")
            self.error = exc
        conn.run("RELEASE SAVEPOINT grouped")

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


class GroupCommit:
    """Runs work in transactions shared with the work other threads hand in at the same time."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._changed = threading.Condition()
        self._queue: list[_Work[Any]] = []
        self._leading = False  # a thread is committing a group

    def run(self, work: Callable[[Connection], T]) -> T:
        """Run `work(conn)` inside a transaction and return its result once that transaction
        has committed (or raise its error; or the commit's, which fails the whole group)."""
        mine = _Work(work)
        with self._changed:
            self._queue.append(mine)
            while self._leading and not mine.settled:
                self._changed.wait()
            if mine.settled:  # another thread committed it
                return mine.outcome()
            self._leading = True
        group: list[_Work[Any]] = []
        try:
            with self._db.transaction() as conn:
                with self._changed:  # everything queued until the writer was ours
                    group, self._queue = self._queue, []
                for queued in group:
                    queued.run(conn)
        except BaseException as exc:  # none of the group's work is committed
            with self._changed:
                if not group:  # the transaction did not begin: ours is the only work it failed
                    self._queue.remove(mine)
                    group = [mine]
            for queued in group:
                queued.error = exc
            raise
        finally:
            with self._changed:
                for queued in group:
                    queued.settled = True
                self._leading = False
                self._changed.notify_all()
        return mine.outcome()
