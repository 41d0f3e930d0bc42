"""Why a delivery was refused. Each error carries the HTTP status a receiver should answer:

WebhookError
├── MissingHeaders      400  a webhook-* header is missing or unreadable
├── InvalidPayload      400  signed, but not an event this package knows
├── InvalidSignature    401  no signature matches the secret (or the body was changed)
├── TimestampTooOld     401  signed longer ago than the tolerance: a replay, or a slow clock
└── TimestampTooNew     401  signed further ahead than the tolerance: a clock ahead
"""

from __future__ import annotations


class WebhookError(Exception):
    """A delivery that must not be handled; `status` is the HTTP answer to give it."""

    status = 400


class MissingHeaders(WebhookError):
    status = 400


class InvalidPayload(WebhookError):
    status = 400


class InvalidSignature(WebhookError):
    status = 401


class TimestampTooOld(WebhookError):
    status = 401


class TimestampTooNew(WebhookError):
    status = 401
