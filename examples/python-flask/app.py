"""A dochooks receiver in Flask: verify each delivery, handle each webhook-id once.

    WEBHOOK_SECRET=whsec_... flask --app app run --port 3000

dochooks delivers at least once (a retry after a lost answer, a resend by hand), so the
handler keeps the webhook-ids it has processed in SQLite and answers a repeat 200 without
handling it again.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from contextlib import closing

from dochooks_receiver import DocumentEvent, Event
from dochooks_receiver.flask import verified
from flask import Flask

SECRET = os.environ["WEBHOOK_SECRET"]  # the webhook's whsec_ signing secret
PROCESSED_DB = os.environ.get("PROCESSED_DB", "processed-webhooks.sqlite3")

logging.basicConfig(level=logging.INFO, format="%(message)s")
logger = logging.getLogger("receiver")
app = Flask(__name__)


def handle(event: Event) -> None:
    """Your work: here, a log line per event."""
    if isinstance(event, DocumentEvent):
        logger.info("handled %s document=%s webhook-id=%s", event.topic, event.id, event.request_id)
    else:
        logger.info("handled %s about webhook=%s webhook-id=%s", event.topic, event.id, event.request_id)


@app.post("/hooks")
@verified(SECRET)
def hooks(event: Event) -> dict[str, str]:
    # The id is kept in the same transaction as the work: if handle() fails, neither is
    # kept, the 500 makes dochooks retry, and the retry is handled.
    with closing(sqlite3.connect(PROCESSED_DB, timeout=10)) as db, db:
        db.execute("CREATE TABLE IF NOT EXISTS processed (webhook_id TEXT PRIMARY KEY, at REAL NOT NULL)")
        inserted = db.execute(
            "INSERT OR IGNORE INTO processed (webhook_id, at) VALUES (?, ?)", (event.request_id, time.time())
        )
        if inserted.rowcount == 0:
            logger.info("repeat of webhook-id=%s ignored", event.request_id)
            return {"status": "already processed"}
        handle(event)
    return {"status": "processed"}
