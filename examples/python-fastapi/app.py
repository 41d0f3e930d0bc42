"""A dochooks receiver in FastAPI: verify each delivery, handle each webhook-id once, and on
start-up catch up from the event feed with the cursor it stored.

    WEBHOOK_SECRET=whsec_... DOCHOOKS_API_URL=https://... DOCHOOKS_TOKEN=... uvicorn app:app --port 3000

dochooks delivers at least once (a retry after a lost answer, a resend by hand), so the
handler keeps the webhook-ids it has processed in SQLite and answers a repeat 200 without
handling it again. What happened while this app was down comes again by the retries, but
a retry schedule can run out: on start-up (and whenever you call `catch_up()`), the app
reads the feed (`GET /v1/events`) from the last cursor it stored and handles each event
no id of which it has processed: the event's own, or one of its deliveries' webhook-ids.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, closing, contextmanager
from typing import Annotated

from dochooks_receiver import DocumentEvent, Event, Feed, FeedError, FeedGone
from dochooks_receiver.fastapi import verified
from fastapi import Depends, FastAPI

SECRET = os.environ["WEBHOOK_SECRET"]  # the webhook's whsec_ signing secret
PROCESSED_DB = os.environ.get("PROCESSED_DB", "processed-webhooks.sqlite3")
API_URL = os.environ.get("DOCHOOKS_API_URL")  # without it and a token, no catch-up
TOKEN = os.environ.get("DOCHOOKS_TOKEN")

logging.basicConfig(level=logging.INFO, format="%(message)s")
logger = logging.getLogger("receiver")


def handle(event: Event, source: str) -> None:
    """Your work: here, a log line per event."""
    if isinstance(event, DocumentEvent):
        logger.info("handled %s document=%s webhook-id=%s from the %s", event.topic, event.id, event.request_id, source)
    else:
        about = f"about webhook={event.id}"
        logger.info("handled %s %s webhook-id=%s from the %s", event.topic, about, event.request_id, source)


def connect() -> sqlite3.Connection:
    db = sqlite3.connect(PROCESSED_DB, timeout=10, isolation_level=None)  # transactions begun below
    db.execute("CREATE TABLE IF NOT EXISTS processed (webhook_id TEXT PRIMARY KEY, at REAL NOT NULL)")
    db.execute("CREATE TABLE IF NOT EXISTS feed_cursor (one INTEGER PRIMARY KEY CHECK (one = 1), cursor TEXT)")
    return db


@contextmanager
def immediate(db: sqlite3.Connection) -> Iterator[None]:
    """A transaction that takes SQLite's write lock first: the webhook route and the catch-up
    never both find an id new."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def mark_processed(db: sqlite3.Connection, ids: Iterable[str]) -> int:
    """Keep the ids as processed; how many were new."""
    now = time.time()
    return sum(
        db.execute("INSERT OR IGNORE INTO processed (webhook_id, at) VALUES (?, ?)", (i, now)).rowcount for i in ids
    )


def catch_up() -> None:
    """Handle what the feed holds after the stored cursor, each event in the transaction that
    stores its ids and the cursor after it, so a crash goes on where the last commit left off."""
    if not (API_URL and TOKEN):
        return
    handled = skipped = 0
    with closing(connect()) as db:
        while True:
            row = db.execute("SELECT cursor FROM feed_cursor").fetchone()
            since: str | None = row[0] if row else None
            try:
                for item, cursor in Feed(API_URL, TOKEN).events(since=since):
                    with immediate(db):
                        ids = item.handled_ids
                        marks = ",".join("?" * len(ids))
                        known = db.execute(f"SELECT count(*) FROM processed WHERE webhook_id IN ({marks})", ids)
                        seen = known.fetchone()[0] > 0
                        mark_processed(db, ids)  # a retry of one of its deliveries is then a repeat
                        if not seen:
                            handle(item.event, "feed")
                        handled, skipped = handled + (not seen), skipped + seen
                        if cursor is not None:
                            db.execute("INSERT OR REPLACE INTO feed_cursor (one, cursor) VALUES (1, ?)", (cursor,))
                break
            except FeedGone as gone:
                # Events after the stored cursor were deleted: go on from where the feed says,
                # and re-sync documents through the document API (filter[updated_after]).
                logger.warning("the feed no longer holds events after cursor %s: %s; re-sync documents", since, gone)
                with immediate(db):
                    db.execute("INSERT OR REPLACE INTO feed_cursor (one, cursor) VALUES (1, ?)", (gone.resume_from,))
            except FeedError as exc:
                logger.warning("could not catch up from the feed: %s", exc)
                return
    logger.info("caught up from the feed: %d handled, %d already processed", handled, skipped)


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    # In a thread: deliveries are answered meanwhile, and each event is handled once either way.
    threading.Thread(target=catch_up, name="catch-up", daemon=True).start()
    yield


app = FastAPI(lifespan=lifespan)


@app.post("/hooks")
def hooks(event: Annotated[Event, Depends(verified(SECRET))]) -> dict[str, str]:
    # The id is kept in the same transaction as the work: if handle() fails, neither is
    # kept, the 500 makes dochooks retry, and the retry is handled.
    with closing(connect()) as db, immediate(db):
        if not mark_processed(db, [event.request_id]):
            logger.info("repeat of webhook-id=%s ignored", event.request_id)
            return {"status": "already processed"}
        handle(event, "webhook")
    return {"status": "processed"}
