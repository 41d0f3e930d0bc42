"""PostgreSQL transactions in pipeline mode: what is queued goes with the next answer or the
commit, and a connection the server dropped is replaced only while nothing of the
transaction has been answered (so nothing of it can have committed)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from dochooks.db import Database, open_database
from dochooks.errors import StorageError
from tests.factories.stores import postgres_database

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg() -> Iterator[tuple[Database, str]]:
    with postgres_database() as url:
        db = open_database(url)
        try:
            with db.transaction() as conn:
                conn.run("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
            yield db, url
        finally:
            db.close()


def drop_connections(url: str) -> None:
    """End every other session on the database, as a server restart would."""
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


def notes(db: Database) -> list[str]:
    with db.read() as conn:
        return [r["body"] for r in conn.all("SELECT body FROM notes ORDER BY id")]


def test_a_transaction_on_a_dropped_connection_goes_through_on_a_fresh_one(pg: tuple[Database, str]) -> None:
    db, url = pg
    drop_connections(url)  # the pool's idle connection is dead, and the pool does not know
    with db.transaction() as conn:
        conn.queue("INSERT INTO notes VALUES (1, 'queued')")
        assert conn.one("SELECT COUNT(*) AS n FROM notes") == {"n": 1}  # sees its own queued write
    assert notes(db) == ["queued"]


def test_a_transaction_of_queued_writes_alone_goes_through_after_a_drop(pg: tuple[Database, str]) -> None:
    db, url = pg
    drop_connections(url)
    with db.transaction() as conn:
        conn.queue("INSERT INTO notes VALUES (1, 'first')")
        conn.many("INSERT INTO notes VALUES (:id, :body)", [{"id": 2, "body": "second"}])
    assert notes(db) == ["first", "second"]


def test_a_connection_dropped_after_an_answer_fails_the_transaction(pg: tuple[Database, str]) -> None:
    db, url = pg
    with pytest.raises(psycopg.OperationalError), db.transaction() as conn:
        conn.run("INSERT INTO notes VALUES (1, 'answered')")
        drop_connections(url)  # the server ended it: sending it again could do half of it twice
        conn.one("SELECT 1 AS one")
    assert notes(db) == []  # and the database still serves


def test_a_queued_write_that_fails_raises_at_commit_and_nothing_commits(pg: tuple[Database, str]) -> None:
    db, _ = pg
    with pytest.raises(psycopg.errors.UniqueViolation), db.transaction() as conn:
        conn.run("INSERT INTO notes VALUES (1, 'kept?')")
        conn.queue("INSERT INTO notes VALUES (1, 'twice')")
    assert notes(db) == []
    with db.transaction() as conn:  # the connection went back to the pool clean
        conn.queue("INSERT INTO notes VALUES (2, 'after')")
    assert notes(db) == ["after"]


def test_a_body_that_raises_rolls_back_what_was_queued(pg: tuple[Database, str]) -> None:
    db, _ = pg
    with pytest.raises(RuntimeError), db.transaction() as conn:
        conn.queue("INSERT INTO notes VALUES (1, 'queued')")
        raise RuntimeError("the caller changed its mind")
    assert notes(db) == []


def test_a_read_on_a_dropped_connection_goes_through_on_a_fresh_one(pg: tuple[Database, str]) -> None:
    db, url = pg
    drop_connections(url)
    assert notes(db) == []


def test_a_read_refuses_to_write(pg: tuple[Database, str]) -> None:
    db, _ = pg
    with pytest.raises(StorageError, match="does not write"), db.read() as conn:
        conn.run("INSERT INTO notes VALUES (1, 'in a read')")
    assert notes(db) == []
