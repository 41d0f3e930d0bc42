"""Standard Webhooks signatures: `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body`."""

from __future__ import annotations

import base64
import hashlib
import hmac


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def signature_header(keys: tuple[bytes, ...], msg_id: str, timestamp: int, body: bytes) -> str:
    """`webhook-signature`: one signature per key, space-separated (two while a secret rotates)."""
    return " ".join(sign(key, msg_id, timestamp, body) for key in keys)


def verify(key: bytes, msg_id: str, timestamp: int, body: bytes, header: str) -> bool:
    """True when any signature in a `webhook-signature` header matches."""
    want = sign(key, msg_id, timestamp, body)
    return any(hmac.compare_digest(part, want) for part in header.split())
