"""The feed's cursor: a position (transaction id, event id) bound to one tenant, handed to
clients as an opaque string (base64url of a small versioned JSON array)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

import orjson

from dochooks.errors import InvalidParameter, NotFound

_VERSION = 1
_MAX_LENGTH = 200  # a cursor we made is about 40 characters; anything far longer is not one


@dataclass(frozen=True, order=True)
class Position:
    """Where the feed stands: after the event `id` written by transaction `xact` (the feed's
    order is (xact, id); (0, 0) is before every event)."""

    xact: int = 0
    id: int = 0


START = Position()


def encode(tenant_id: int, position: Position) -> str:
    packed = orjson.dumps([_VERSION, tenant_id, position.xact, position.id])
    return base64.urlsafe_b64encode(packed).rstrip(b"=").decode()


def decode(tenant_id: int, cursor: str) -> Position:
    """The position `cursor` names for this tenant: 400 (naming `after`) if it is not a
    cursor of ours, 404 if it is another tenant's."""
    try:
        if len(cursor) > _MAX_LENGTH:
            raise ValueError("too long")
        version, owner, xact, ident = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if version != _VERSION or not all(isinstance(n, int) and n >= 0 for n in (owner, xact, ident)):
            raise ValueError("not a cursor")
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError) as exc:
        raise InvalidParameter("after is not a cursor this feed gave out (meta.cursor)", parameter="after") from exc
    if owner != tenant_id:
        raise NotFound("no such cursor")
    return Position(xact, ident)
