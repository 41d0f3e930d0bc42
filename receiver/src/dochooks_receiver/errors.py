"""Why a delivery was refused. Each error carries the HTTP status a receiver should answer:

WebhookError
├── MissingHeaders      400  a webhook-* header is missing or unreadable
├── InvalidPayload      400  signed, but not an event this package knows
├── InvalidSignature    401  no signature matches the secret (or the body was changed)
├── TimestampTooOld     401  signed longer ago than the tolerance: a replay, or a slow clock
└── TimestampTooNew     401  signed further ahead than the tolerance: a clock ahead

Why the event feed could not be read (`Feed`):

FeedError                    the service's status (None: no answer) and its words
└── FeedGone            410  the cursor is older than the feed keeps; `resume_from` says where to go on
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


class FeedError(Exception):
    """The event feed refused or could not be read; `status` is its HTTP status (None when
    the service did not answer), `detail` its words."""

    def __init__(self, status: int | None, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


class FeedGone(FeedError):
    """410: the cursor is older than the feed keeps; `resume_from` is where it says to go on
    from (the events in between are gone: pull their documents with `GET /v1/documents`)."""

    def __init__(self, detail: str, resume_from: str) -> None:
        super().__init__(410, detail)
        self.resume_from = resume_from
