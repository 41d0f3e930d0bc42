"""Standard Webhooks verification with the standard library: `webhook-signature` holds one or
more `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed with the bytes of the `whsec_` secret."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Iterable
from typing import Protocol

from dochooks_receiver.errors import InvalidPayload, InvalidSignature, MissingHeaders, TimestampTooNew, TimestampTooOld
from dochooks_receiver.events import Event, parse_event

TOLERANCE = 300  # seconds either way: the Standard Webhooks default (5 minutes)
HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


class Headers(Protocol):
    """A request's headers, any case: a dict, or a framework's header object (Starlette, Werkzeug)."""

    def items(self) -> Iterable[tuple[str, str]]: ...


def signing_key(secret: str) -> bytes:
    """The HMAC key of a webhook secret, given with or without its `whsec_` prefix."""
    try:
        key = base64.b64decode(secret.strip().removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the webhook secret is not a whsec_ secret (base64 after the prefix)") from exc
    if not key:
        raise ValueError("the webhook secret is empty")
    return key


def sign(secret: str, msg_id: str, timestamp: int | str, body: bytes) -> str:
    """One `v1,` signature, as dochooks makes it (for tests of a receiver)."""
    mac = hmac.new(signing_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify_signature(
    secret: str,
    headers: Headers,
    body: bytes | str,
    *,
    tolerance: int = TOLERANCE,
    now: float | None = None,
) -> None:
    """Return if a delivery is signed with `secret` within `tolerance` seconds of `now`, else raise
    (`MissingHeaders`, `TimestampTooOld`, `TimestampTooNew`, `InvalidSignature`)."""
    wanted = {name.lower(): value for name, value in headers.items() if name.lower() in HEADERS}
    missing = [name for name in HEADERS if not wanted.get(name)]
    if missing:
        raise MissingHeaders("missing header: " + ", ".join(missing))
    stamp = wanted["webhook-timestamp"]
    if not (stamp.isascii() and stamp.isdigit()):  # int() would also take "+1", " 1" or "1_0"
        raise MissingHeaders(f"webhook-timestamp is not Unix seconds: {stamp!r}")
    age = (time.time() if now is None else now) - int(stamp)
    if age > tolerance:
        raise TimestampTooOld(f"signed {int(age)} s ago, more than the {tolerance} s tolerated")
    if age < -tolerance:
        raise TimestampTooNew(f"signed {int(-age)} s ahead of this clock, more than the {tolerance} s tolerated")
    data = body.encode() if isinstance(body, str) else body
    expected = sign(secret, wanted["webhook-id"], stamp, data).encode()  # the header's text, as signed
    # Any of several (two while a secret rotates); each compared in constant time.
    if not any(hmac.compare_digest(given.encode(), expected) for given in wanted["webhook-signature"].split()):
        raise InvalidSignature("no signature in webhook-signature matches the secret")


def verify(
    secret: str,
    headers: Headers,
    body: bytes | str,
    *,
    tolerance: int = TOLERANCE,
    now: float | None = None,
) -> Event:
    """The event of a delivery signed with `secret` (`whsec_...`), or a `WebhookError` saying why not.
    Pass the body exactly as received: the signature covers its bytes."""
    verify_signature(secret, headers, body, tolerance=tolerance, now=now)
    event = parse_event(body)
    if event.request_id != next(v for k, v in headers.items() if k.lower() == "webhook-id"):
        raise InvalidPayload("the body's request_id is not the webhook-id header")
    return event
