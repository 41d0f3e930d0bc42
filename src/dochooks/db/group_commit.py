"""Group commit: small, independent transactions from many threads committed together.

A commit costs a disk flush (SQLite in FULL mode, PostgreSQL by default), a few
milliseconds each, one at a time: uploads committed one by one queue behind each other's
flushes. Here whichever thread gets the writer first runs the work every other thread
queued meanwhile in one transaction, with one flush. If any of it fails (or the commit
does), the transaction rolls back and each piece runs again alone, in a transaction of
its own, so each caller gets its own result or error: work handed in must only touch the
database (nothing of it is kept unless its transaction commits). Each caller returns once
the commit that holds its work is durable.

Only an engine with one writer gains (`dialect.one_writer`: SQLite). PostgreSQL runs
writers side by side and a flush covers every commit that meets it: grouping there would only
make each upload wait for the group ahead of it, so each work runs in its own transaction."""

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

    def run_alone(self, db: Database) -> None:
        try:
            with db.transaction() as conn:
                self.result = self.work(conn)
        except Exception as exc:
            self.error = exc

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
        has committed, or raise its error."""
        mine = _Work(work)
        if not self._db.dialect.one_writer:
            mine.run_alone(self._db)
            return mine.outcome()
        with self._changed:
            self._queue.append(mine)
            while self._leading and not mine.settled:
                self._changed.wait()
            if mine.settled:  # another thread committed it
                return mine.outcome()
            self._leading = True
        group: list[_Work[Any]] = []
        try:
            self._commit(group)
        except BaseException:
            if not group:  # the transaction did not begin: take ours back, unrun
                with self._changed:
                    self._queue.remove(mine)
            raise
        finally:
            with self._changed:
                for queued in group or [mine]:
                    queued.settled = True
                self._leading = False
                self._changed.notify_all()
        return mine.outcome()

    def _commit(self, group: list[_Work[Any]]) -> None:
        """Commit the queued work together into `group` (filled once the writer is ours), or
        each piece alone if that fails."""
        try:
            with self._db.transaction() as conn:
                with self._changed:  # everything queued until the writer was ours
                    group.extend(self._queue)
                    self._queue.clear()
                for queued in group:
                    queued.result = queued.work(conn)
        except Exception:
            for queued in group:
                queued.run_alone(self._db)
            if not group:  # the transaction did not even begin
                raise
        except BaseException as exc:  # interrupted: nothing of the group is committed
            for queued in group:
                queued.error = exc
            raise
