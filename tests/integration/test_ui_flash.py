"""The web UI's flashes (ui/flash.py) on SQLite and PostgreSQL: kept with one session for one
page, encrypted at rest, shown for 30 minutes (a `once` flash to one GET), bounded in size
and number, and gone with the session."""

from __future__ import annotations

from typing import Any

import pytest

from dochooks.runtime import Runtime
from dochooks.tenants import NewTenant
from dochooks.ui import flash, sessions

PAGE = "/development/webhooks/new"


@pytest.fixture
def session_id(runtime: Runtime, acme: NewTenant) -> str:
    with runtime.db.transaction() as conn:
        found = sessions.sign_in(conn, acme.token, runtime.clock.now_ms())
    assert found is not None
    return found


ERROR = {"errors": {"url": "The URL must start with http:// or https://."}}
TYPED = {"url": "ftp://erp.example"}


def _keep(
    runtime: Runtime,
    session_id: str,
    now_ms: int,
    *,
    shown: dict[str, Any] = ERROR,
    typed: dict[str, Any] = TYPED,
    once: bool = False,
) -> str:
    with runtime.db.transaction() as conn:
        return flash.keep(conn, runtime.cipher, session_id, PAGE, shown, typed, once=once, now_ms=now_ms)


def _take(runtime: Runtime, session_id: str, nonce: str, now_ms: int, page: str = PAGE) -> flash.Flash | None:
    with runtime.db.transaction() as conn:
        return flash.take(conn, runtime.cipher, session_id, page, nonce, now_ms)


def test_a_flash_shows_again_on_reload_for_30_minutes_then_is_gone(runtime: Runtime, session_id: str) -> None:
    nonce = _keep(runtime, session_id, 1_000)
    expected = {**ERROR, **TYPED}
    for _ in range(2):
        assert _take(runtime, session_id, nonce, 1_000 + flash.FLASH_TTL_MS - 1) == flash.Flash(expected)
    assert _take(runtime, session_id, nonce, 1_000 + flash.FLASH_TTL_MS) is None


def test_a_flash_is_only_for_its_session_and_its_page(runtime: Runtime, acme: NewTenant, session_id: str) -> None:
    nonce = _keep(runtime, session_id, 1_000)
    with runtime.db.transaction() as conn:
        other = sessions.sign_in(conn, acme.token, 1_000)  # the same tenant, another browser
    assert other is not None
    assert _take(runtime, other, nonce, 1_001) is None
    assert _take(runtime, session_id, nonce, 1_001, page="/development/workflow") is None
    assert _take(runtime, session_id, "x" * len(nonce), 1_001) is None
    assert _take(runtime, session_id, nonce, 1_001) is not None


def test_a_once_flash_is_shown_to_one_get_and_then_says_it_was(runtime: Runtime, session_id: str) -> None:
    nonce = _keep(runtime, session_id, 1_000, shown={"reveal": True}, typed={}, once=True)
    assert _take(runtime, session_id, nonce, 1_001) == flash.Flash({"reveal": True}, spent=False)
    assert _take(runtime, session_id, nonce, 1_002) == flash.Flash({"reveal": True}, spent=True)


def test_what_was_typed_is_encrypted_at_rest(runtime: Runtime, session_id: str) -> None:
    _keep(runtime, session_id, 1_000, typed={"headers": [["Authorization", "Bearer typed-secret-4711"]]})
    with runtime.db.read() as conn:
        (row,) = conn.all("SELECT body, page FROM ui_flashes")
    assert "typed-secret-4711" not in row["body"] and "errors" not in row["body"] and row["page"] == PAGE


def test_what_was_typed_is_dropped_when_too_long_to_keep_and_the_errors_are_cut(
    runtime: Runtime, session_id: str
) -> None:
    long_error = "e" * (flash.MAX_BODY + 1)
    nonce = _keep(runtime, session_id, 1_000, shown={"errors": {"name": long_error}}, typed={"name": "n" * 100})
    taken = _take(runtime, session_id, nonce, 1_001)
    assert taken == flash.Flash({"errors": {"name": "e" * flash.MAX_TEXT}})
    typed_too_long = {"name": "n" * flash.MAX_BODY}
    nonce = _keep(runtime, session_id, 1_000, shown={"errors": {"name": "Too long."}}, typed=typed_too_long)
    assert _take(runtime, session_id, nonce, 1_001) == flash.Flash({"errors": {"name": "Too long."}})


def test_a_session_keeps_its_newest_flashes_only_and_loses_them_when_it_ends(runtime: Runtime, session_id: str) -> None:
    nonces = [_keep(runtime, session_id, 1_000 + n) for n in range(flash.MAX_PER_SESSION + 1)]
    assert _take(runtime, session_id, nonces[0], 2_000) is None
    assert all(_take(runtime, session_id, nonce, 2_000) is not None for nonce in nonces[1:])
    with runtime.db.transaction() as conn:
        sessions.sign_out(conn, session_id)
    with runtime.db.read() as conn:
        assert conn.all("SELECT id FROM ui_flashes") == []


def test_expired_flashes_of_any_session_are_cleared_when_another_is_kept(
    runtime: Runtime, acme: NewTenant, session_id: str
) -> None:
    _keep(runtime, session_id, 1_000)
    with runtime.db.transaction() as conn:
        other = sessions.sign_in(conn, acme.token, 1_000)
    assert other is not None
    _keep(runtime, other, 1_000 + flash.FLASH_TTL_MS)
    with runtime.db.read() as conn:
        assert conn.one("SELECT COUNT(*) AS n FROM ui_flashes")["n"] == 1  # type: ignore[index]
