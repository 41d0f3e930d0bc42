"""Group commit on SQLite and PostgreSQL: work handed in by many threads at once commits in
fewer transactions than pieces of work, each caller gets its own result or error, and a
piece that fails rolls back alone."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest

from dochooks.db import Connection, Database
from dochooks.db.group_commit import GroupCommit
from dochooks.errors import InvalidInput
from dochooks.runtime import Runtime


class CountingCommits:
    """The database, counting the transactions it begins (and holding each open a moment,
    as a disk flush would, so that threads arrive while one commits)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.began = 0
        self._lock = threading.Lock()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.db.transaction() as conn:
            with self._lock:
                self.began += 1
            yield conn
            threading.Event().wait(0.01)


def make_table(runtime: Runtime) -> None:
    with runtime.db.transaction() as conn:
        conn.run("CREATE TABLE grouped_test (n INTEGER PRIMARY KEY)")


def stored(runtime: Runtime) -> list[int]:
    with runtime.db.read() as conn:
        return [r["n"] for r in conn.all("SELECT n FROM grouped_test ORDER BY n")]


def test_work_from_many_threads_shares_commits_and_each_gets_its_result(runtime: Runtime) -> None:
    make_table(runtime)
    counting = CountingCommits(runtime.db)
    commits = GroupCommit(counting)  # type: ignore[arg-type]

    def insert(n: int) -> int:
        def work(conn: Connection) -> int:
            conn.run("INSERT INTO grouped_test (n) VALUES (:n)", {"n": n})
            return n * 10

        return commits.run(work)

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(insert, range(200)))

    assert results == [n * 10 for n in range(200)]
    assert stored(runtime) == list(range(200))
    assert counting.began < 100, counting.began  # 200 pieces of work, far fewer commits


def test_a_failing_piece_of_work_rolls_back_alone_and_its_caller_gets_its_error(runtime: Runtime) -> None:
    make_table(runtime)
    counting = CountingCommits(runtime.db)
    commits = GroupCommit(counting)  # type: ignore[arg-type]
    start = threading.Barrier(12)

    def insert(n: int) -> str:
        def work(conn: Connection) -> str:
            conn.run("INSERT INTO grouped_test (n) VALUES (:n)", {"n": n})
            if n % 3 == 0:
                raise InvalidInput(f"no {n}")
            return "ok"

        start.wait()
        try:
            return commits.run(work)
        except InvalidInput as exc:
            return exc.detail

    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(insert, range(12)))

    assert results == [f"no {n}" if n % 3 == 0 else "ok" for n in range(12)]
    assert stored(runtime) == [n for n in range(12) if n % 3]


def test_when_a_commit_fails_every_caller_in_its_group_hears_so(runtime: Runtime) -> None:
    """The same key inserted by four threads at once, its uniqueness checked only at commit
    (a deferred constraint): a commit holding two of them fails as a whole. Whatever the
    groups were, the callers told their row is stored are as many as the rows stored (one
    at most), and every other caller got the commit's error."""
    if runtime.db.dialect.name != "postgresql":
        pytest.skip("SQLite checks every constraint at once, inside the savepoint")
    with runtime.db.transaction() as conn:
        conn.run("CREATE TABLE grouped_test (n INTEGER, UNIQUE (n) DEFERRABLE INITIALLY DEFERRED)")
    commits = GroupCommit(runtime.db)
    start = threading.Barrier(4)

    def insert(_: int) -> str:
        start.wait()
        try:
            commits.run(lambda conn: conn.run("INSERT INTO grouped_test (n) VALUES (1)"))
        except Exception as exc:
            return type(exc).__name__
        return "stored"

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(insert, range(4)))
    assert results.count("stored") == len(stored(runtime)) <= 1, results
    assert results.count("UniqueViolation") == 4 - results.count("stored"), results
