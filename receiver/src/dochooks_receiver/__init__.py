"""Receive dochooks webhooks: `verify()` a delivery and get its typed event.

from dochooks_receiver import verify, DocumentEvent, WebhookError

event = verify(secret, request_headers, raw_body)  # raises a WebhookError with .status

After an outage, catch up from the event feed with the cursor you stored:

for item, cursor in Feed(api_url, token).events(since=cursor): ...
"""

from __future__ import annotations

from dochooks_receiver.errors import (
    FeedError,
    FeedGone,
    InvalidPayload,
    InvalidSignature,
    MissingHeaders,
    TimestampTooNew,
    TimestampTooOld,
    WebhookError,
)
from dochooks_receiver.events import (
    DeliveryAttributes,
    DeliveryExhaustedEvent,
    DocumentAttributes,
    DocumentEvent,
    DocumentStatus,
    Event,
    WebhookAttributes,
    WebhookEvent,
    parse_event,
)
from dochooks_receiver.feed import Feed, FeedEvent, parse_feed_event
from dochooks_receiver.topics import OPERATIONAL_TOPICS, WORKFLOW_TOPICS, Topic
from dochooks_receiver.verification import TOLERANCE, sign, signing_key, verify, verify_signature

__all__ = [
    "OPERATIONAL_TOPICS",
    "TOLERANCE",
    "WORKFLOW_TOPICS",
    "DeliveryAttributes",
    "DeliveryExhaustedEvent",
    "DocumentAttributes",
    "DocumentEvent",
    "DocumentStatus",
    "Event",
    "Feed",
    "FeedError",
    "FeedEvent",
    "FeedGone",
    "InvalidPayload",
    "InvalidSignature",
    "MissingHeaders",
    "TimestampTooNew",
    "TimestampTooOld",
    "Topic",
    "WebhookAttributes",
    "WebhookError",
    "WebhookEvent",
    "parse_event",
    "parse_feed_event",
    "sign",
    "signing_key",
    "verify",
    "verify_signature",
]
