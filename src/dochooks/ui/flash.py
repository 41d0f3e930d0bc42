"""Flashes: what a page shows after a post redirected to it, so that every post of the web UI
answers 303 and the page it leads to reloads safely (post/redirect/get).

A flash is kept server-side with the session that posted it (gone with the session), for the
one page it is for, and found by a random nonce in that page's address: the nonce means
nothing without the session's cookie, and nothing a flash holds is ever in an address or a
log line. Its body is encrypted, since a form's typed header values may be secrets. It lasts
30 minutes, so a reload shows it again; a `once` flash is shown to one GET only, and a reload
after that learns only that it was shown (`spent`)."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse

from dochooks.db import Connection
from dochooks.errors import StorageError
from dochooks.runtime import Runtime
from dochooks.ui.auth import redirect
from dochooks.ui.sessions import Session, digest
from dochooks.webhooks.secrets import Cipher

FLASH_TTL_MS = 30 * 60 * 1000
PARAM = "flash"  # the address's query parameter with the nonce
MAX_PER_SESSION = 20  # the newest are kept: a session's flashes take bounded room
MAX_BODY = 64 * 1024  # a longer body keeps its errors and drops what was typed
MAX_TEXT = 500  # the length an error is cut to when even the errors alone are too long
_NONCE_LENGTH = 22  # secrets.token_urlsafe(16)


@dataclass(frozen=True)
class Flash:
    """What a page is to show. `spent`: a `once` flash shown already; `data` still says what
    it was, for the page to say it is gone."""

    data: dict[str, Any]
    spent: bool = False


def _shortened(value: Any) -> Any:
    if isinstance(value, str):
        return value[:MAX_TEXT]
    if isinstance(value, dict):
        return {k: _shortened(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_shortened(v) for v in value]
    return value


def _body(shown: dict[str, Any], typed: dict[str, Any]) -> str:
    """The body to keep, at most MAX_BODY characters: what was typed goes first if need be.
    (What we say ourselves is a few errors, one a field of the form, each then cut to MAX_TEXT.)"""
    body = json.dumps({**shown, **typed}, ensure_ascii=False)
    if len(body) <= MAX_BODY:
        return body
    return json.dumps(_shortened(shown), ensure_ascii=False)


def keep(
    conn: Connection,
    cipher: Cipher,
    session_id: str,
    page: str,
    shown: dict[str, Any],
    typed: dict[str, Any] | None = None,
    *,
    once: bool = False,
    now_ms: int,
) -> str:
    """Keep a flash for `page` and return its nonce. `shown` is ours to say (errors, a grant),
    `typed` what the user typed, dropped if the two are too long to keep."""
    hashed = digest(session_id)
    conn.run("DELETE FROM ui_flashes WHERE expires_at <= :now", {"now": now_ms})
    conn.run(
        "DELETE FROM ui_flashes WHERE session_hash = :hash AND id NOT IN "
        "(SELECT id FROM ui_flashes WHERE session_hash = :hash ORDER BY id DESC LIMIT :keep)",
        {"hash": hashed, "keep": MAX_PER_SESSION - 1},
    )
    nonce = secrets.token_urlsafe(16)
    conn.run(
        "INSERT INTO ui_flashes (session_hash, nonce, page, body, once, expires_at) "
        "VALUES (:hash, :nonce, :page, :body, :once, :expires)",
        {
            "hash": hashed,
            "nonce": nonce,
            "page": page,
            "body": cipher.encrypt(_body(shown, typed or {})),
            "once": once,
            "expires": now_ms + FLASH_TTL_MS,
        },
    )
    return nonce


def take(conn: Connection, cipher: Cipher, session_id: str, page: str, nonce: str, now_ms: int) -> Flash | None:
    """The session's live flash for `page` with this nonce, if any; a `once` flash is marked
    shown by the first GET that takes it (a conditional update: two at once cannot both)."""
    row = conn.one(
        "SELECT id, body, once, shown_at FROM ui_flashes "
        "WHERE session_hash = :hash AND nonce = :nonce AND page = :page AND expires_at > :now",
        {"hash": digest(session_id), "nonce": nonce, "page": page, "now": now_ms},
    )
    if row is None:
        return None
    try:
        data = json.loads(cipher.decrypt(row["body"]))
    except StorageError:  # kept under a key retired since: as good as expired
        return None
    if not row["once"]:
        return Flash(data)
    shown_now = conn.run(
        "UPDATE ui_flashes SET shown_at = :now WHERE id = :id AND shown_at IS NULL", {"id": row["id"], "now": now_ms}
    )
    return Flash(data, spent=not shown_now)


def flash_redirect(
    rt: Runtime,
    session: Session,
    page: str,
    shown: dict[str, Any],
    typed: dict[str, Any] | None = None,
    *,
    once: bool = False,
) -> RedirectResponse:
    """Keep a flash for `page` and send the browser there (303) to see it."""
    with rt.db.transaction() as conn:
        nonce = keep(conn, rt.cipher, session.session_id, page, shown, typed, once=once, now_ms=rt.clock.now_ms())
    return redirect(f"{page}?{PARAM}={nonce}")


def flash_of(request: Request, rt: Runtime, session: Session) -> Flash | None:
    """The flash the page's address names, if it is this session's and this page's and still kept."""
    nonce = request.query_params.get(PARAM) or ""
    if len(nonce) != _NONCE_LENGTH:  # not one of ours: no need to look
        return None
    with rt.db.transaction() as conn:
        return take(conn, rt.cipher, session.session_id, request.url.path, nonce, rt.clock.now_ms())
