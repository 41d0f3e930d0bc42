"""Group commit on SQLite and PostgreSQL: on an engine with one writer (SQLite), work handed
in by many threads at once commits in fewer transactions than pieces of work; on one whose
writers run side by side (PostgreSQL), each piece in its own. Either way each caller gets its
own result or error, and a piece that fails takes nothing of the others with it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from dochooks.db import Connection, Database
from dochooks.db.group_commit import GroupCommit
from dochooks.errors import InvalidInput
from dochooks.runtime import Runtime


class CountingCommits:
    """The database, counting the transactions it begins (and holding each open a moment,
    as a disk flush would, so that threads arrive while one commits)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.dialect = db.dialect
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


def test_work_from_many_threads_shares_commits_where_there_is_one_writer_and_each_gets_its_result(
    runtime: Runtime,
) -> None:
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
    if runtime.db.dialect.one_writer:
        assert counting.began < 100, counting.began  # 200 pieces of work, far fewer commits
    else:
        assert counting.began == 200, counting.began  # each its own: none waits for a group


def test_a_failing_piece_of_work_rolls_back_alone_and_its_caller_gets_its_error(runtime: Runtime) -> None:
    """Some pieces raise an error of their own, some a write the database refuses (sent
    ahead on PostgreSQL, its answer read later): each caller gets its own error, and the
    pieces that did not fail are stored."""
    make_table(runtime)
    counting = CountingCommits(runtime.db)
    commits = GroupCommit(counting)  # type: ignore[arg-type]
    start = threading.Barrier(12)

    with runtime.db.transaction() as conn:
        conn.run("INSERT INTO grouped_test (n) VALUES (100)")

    def insert(n: int) -> str:
        def work(conn: Connection) -> str:
            conn.queue("INSERT INTO grouped_test (n) VALUES (:n)", {"n": n})
            if n % 3 == 0:
                raise InvalidInput(f"no {n}")
            if n % 4 == 1:  # the key exists: the database refuses the second insert
                conn.queue("INSERT INTO grouped_test (n) VALUES (100)")
            return "ok"

        start.wait()
        try:
            return commits.run(work)
        except InvalidInput as exc:
            return exc.detail
        except Exception as exc:  # the database's refusal, as the engine raises it
            return "refused" if "UNIQUE" in str(exc).upper() else repr(exc)

    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(insert, range(12)))

    expected = ["refused" if n % 4 == 1 and n % 3 else f"no {n}" if n % 3 == 0 else "ok" for n in range(12)]
    assert results == expected
    assert stored(runtime) == [n for n, said in enumerate(expected) if said == "ok"] + [100]


def test_when_a_commit_fails_every_caller_in_its_group_hears_so(runtime: Runtime) -> None:
    """Rows whose reference is checked only at commit (a deferred foreign key), handed in by
    eight threads at once, two of them referring to nothing: a commit holding one of those
    fails, and each of its pieces runs again alone. Whatever the groups were, each caller of a
    good row is told it is stored, each caller of a bad one gets the database's refusal, and
    only the good rows are stored."""
    with runtime.db.transaction() as conn:
        conn.run("CREATE TABLE grouped_parent (n INTEGER PRIMARY KEY)")
        conn.run(
            "CREATE TABLE grouped_test (n INTEGER PRIMARY KEY, parent INTEGER "
            "REFERENCES grouped_parent (n) DEFERRABLE INITIALLY DEFERRED)"
        )
        conn.run("INSERT INTO grouped_parent (n) VALUES (1)")
    commits = GroupCommit(runtime.db)
    start = threading.Barrier(8)

    def insert(n: int) -> str:
        parent = 2 if n in (2, 5) else 1  # 2: no such parent
        start.wait()
        try:
            commits.run(
                lambda conn: conn.run("INSERT INTO grouped_test (n, parent) VALUES (:n, :p)", {"n": n, "p": parent})
            )
        except Exception as exc:
            return "refused" if "FOREIGN KEY" in str(exc).upper() else repr(exc)
        return "stored"

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(insert, range(8)))
    assert results == ["refused" if n in (2, 5) else "stored" for n in range(8)], results
    assert stored(runtime) == [0, 1, 3, 4, 6, 7]
