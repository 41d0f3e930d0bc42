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


def encode(tenant_id: int, position: Position, horizon: Position) -> str:
    """A cursor after `position`, given out while retention's horizon stood at `horizon`."""
    packed = orjson.dumps([_VERSION, tenant_id, position.xact, position.id, horizon.xact, horizon.id])
    return base64.urlsafe_b64encode(packed).rstrip(b"=").decode()


def decode(tenant_id: int, cursor: str) -> tuple[Position, Position]:
    """The position `cursor` names for this tenant and the horizon it was given out at: 400
    (naming `after`) if it is not a cursor of ours, 404 if it is another tenant's."""
    try:
        if len(cursor) > _MAX_LENGTH:
            raise ValueError("too long")
        version, owner, *numbers = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if (
            version != _VERSION
            or len(numbers) != 4
            or not all(isinstance(n, int) and 0 <= n < 2**63 for n in (owner, *numbers))
        ):
            raise ValueError("not a cursor")
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError) as exc:
        raise InvalidParameter("after is not a cursor this feed gave out (meta.cursor)", parameter="after") from exc
    if owner != tenant_id:
        raise NotFound("no such cursor")
    xact, ident, horizon_xact, horizon_id = numbers
    return Position(xact, ident), Position(horizon_xact, horizon_id)
