"""A dochooks receiver in Flask, verified with the Standard Webhooks library (`standardwebhooks`
on PyPI): any language's library of the standard verifies dochooks' deliveries the same way.

    WEBHOOK_SECRET=whsec_... flask --app app run --port 3000

dochooks delivers at least once (a retry after a lost answer, a resend by hand), so the
handler keeps the webhook-ids it has processed in SQLite and answers a repeat 200 without
handling it again.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from contextlib import closing
from typing import Any

from flask import Flask, request
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
PROCESSED_DB = os.environ.get("PROCESSED_DB", "processed-webhooks.sqlite3")
# The webhook's whsec_ signing secret; the library checks its signatures and the 5-minute tolerance.
webhook = Webhook(os.environ["WEBHOOK_SECRET"])

logging.basicConfig(level=logging.INFO, format="%(message)s")
logger = logging.getLogger("receiver")
app = Flask(__name__)


def handle(payload: dict[str, Any], webhook_id: str) -> None:
    """Your work: here, a log line per event. GET /v1/documents/{id}?include=fields has the rest."""
    if payload.get("type") == "documents":
        logger.info("handled %s document=%s webhook-id=%s", payload["topic"], payload["id"], webhook_id)
    else:  # an operational topic: about a webhook or a delivery of yours
        logger.info(
            "handled %s about %s=%s webhook-id=%s", payload["topic"], payload["type"], payload["id"], webhook_id
        )


def _refused(status: int, detail: str) -> tuple[dict[str, str], int]:
    logger.info("refused webhook-id=%s: %s", request.headers.get("webhook-id"), detail)
    return {"detail": detail}, status


@app.post("/hooks")
def hooks() -> tuple[dict[str, str], int]:
    if not all(request.headers.get(name) for name in SIGNATURE_HEADERS):
        return _refused(400, "missing webhook-id, webhook-timestamp or webhook-signature")
    body = request.get_data()  # the exact bytes received: the signature covers them
    try:
        webhook.verify(body, dict(request.headers), json_parse=False)
    except WebhookVerificationError as exc:  # no signature matches, or signed more than 5 minutes away
        return _refused(401, str(exc))
    except ValueError:  # the library's own parsing: a signature that is not "v1,<base64>", a body not UTF-8
        return _refused(401, "no readable signature in webhook-signature")
    try:
        payload = json.loads(body)
    except ValueError:
        return _refused(400, "the body is not JSON")
    if not isinstance(payload, dict) or not isinstance(payload.get("topic"), str):
        return _refused(400, "the body is not a dochooks payload")
    webhook_id = request.headers["webhook-id"]  # signed, and the same through every retry
    # The id is kept in the same transaction as the work: if handle() fails, neither is
    # kept, the 500 makes dochooks retry, and the retry is handled.
    with closing(sqlite3.connect(PROCESSED_DB, timeout=10)) as db, db:
        db.execute("CREATE TABLE IF NOT EXISTS processed (webhook_id TEXT PRIMARY KEY, at REAL NOT NULL)")
        inserted = db.execute(
            "INSERT OR IGNORE INTO processed (webhook_id, at) VALUES (?, ?)", (webhook_id, time.time())
        )
        if inserted.rowcount == 0:
            logger.info("repeat of webhook-id=%s ignored", webhook_id)
            return {"status": "already processed"}, 200
        handle(payload, webhook_id)
    return {"status": "processed"}, 200
