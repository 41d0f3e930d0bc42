from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from cryptography.fernet import Fernet

from dochooks.db import Row
from dochooks.delivery.signing import verify
from dochooks.delivery.targets import USER_AGENT, Target, Targets
from dochooks.webhooks.secrets import Cipher, new_signing_secret, signing_key
from tests.factories.deliveries import claimed

CIPHER = Cipher(Fernet.generate_key())


class CountingCipher(Cipher):
    def __init__(self) -> None:
        super().__init__(CIPHER.keys[0])
        self.decrypted = 0

    def decrypt(self, token: str) -> str:
        self.decrypted += 1
        return super().decrypt(token)


def webhook_row(webhook_id: int = 7, *, updated_at: int = 1, **columns: Any) -> Row:
    """A webhooks row as a claim returns it (webhooks.store.COLUMNS)."""
    row: Row = {
        "id": webhook_id,
        "tenant_id": 1,
        "name": "ERP",
        "url": "https://hooks.example.com:8443/in?x=1",
        "headers": CIPHER.encrypt(json.dumps({"Authorization": "Bearer receiver-token-0123456789"})),
        "secret": CIPHER.encrypt(new_signing_secret()),
        "previous_secret": None,
        "previous_secret_expires_at": None,
        "enabled": 1,
        "ordered": 0,
        "created_at": 0,
        "updated_at": updated_at,
        "disabled_reason": None,
        "failing_since": None,
        "consecutive_failures": 0,
        "last_success_at": None,
        "last_error": None,
        "disabled_at": None,
    }
    return {**row, **columns}


def test_a_target_sends_the_custom_headers_and_shows_them_masked() -> None:
    targets = Targets(CIPHER)
    targets.refresh([webhook_row()])
    target = targets.get(7)
    assert target is not None and target.broken is None and target.enabled
    assert target.host == "https://hooks.example.com:8443"
    assert target.headers == {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Accept": "*/*",
        "Authorization": "Bearer receiver-token-0123456789",
    }
    assert target.shown_headers["Authorization"] == "********6789"
    assert targets.versions == {7: 1}


def test_a_webhook_is_decrypted_once_per_version() -> None:
    cipher = CountingCipher()
    targets = Targets(cipher)
    targets.refresh([webhook_row(updated_at=1)])
    once = cipher.decrypted
    assert once == 2  # the headers and the secret
    targets.refresh([webhook_row(updated_at=1)])
    assert cipher.decrypted == once
    targets.refresh([webhook_row(updated_at=2)])
    assert cipher.decrypted == 2 * once and targets.versions == {7: 2}


def test_a_secret_that_does_not_decrypt_breaks_its_own_target_only() -> None:
    foreign = Cipher(Fernet.generate_key())
    targets = Targets(CIPHER)
    targets.refresh([webhook_row(7, secret=foreign.encrypt("whsec_x")), webhook_row(8)])
    broken, fine = targets.get(7), targets.get(8)
    assert broken is not None and broken.broken is not None
    assert "decrypt" in broken.broken and broken.broken.endswith("; not sent")
    assert fine is not None and fine.broken is None


def test_a_rotated_away_secret_signs_too_until_it_expires() -> None:
    old, new = new_signing_secret(), new_signing_secret()
    row = webhook_row(secret=CIPHER.encrypt(new), previous_secret=CIPHER.encrypt(old), previous_secret_expires_at=5000)
    targets = Targets(CIPHER)
    targets.refresh([row])
    target = targets.get(7)
    assert target is not None
    item = claimed(7)
    body = item.body()
    during = target.signed(item, body, 4999)
    assert during["webhook-id"] == item.request_id and during["webhook-timestamp"] == "4"
    for secret in (old, new):
        assert verify(signing_key(secret), item.request_id, 4, body, during["webhook-signature"])
    after = target.signed(item, body, 5000)
    assert len(after["webhook-signature"].split()) == 1
    assert not verify(signing_key(old), item.request_id, 5, body, after["webhook-signature"])
    assert verify(signing_key(new), item.request_id, 5, body, after["webhook-signature"])


def test_the_body_is_the_payload_with_request_id_and_topic() -> None:
    item = claimed(payload='{"id":"42","type":"documents"}')
    assert json.loads(item.body()) == {
        "id": "42",
        "type": "documents",
        "request_id": item.request_id,
        "topic": "document-received",
    }
    assert json.loads(claimed(payload="{}").body()) == {"request_id": item.request_id, "topic": "document-received"}


def test_after_a_change_the_held_webhooks_are_read_again_before_the_next_send() -> None:
    targets = Targets(CIPHER)
    targets.refresh([webhook_row(7, updated_at=1), webhook_row(8, updated_at=1)])
    reads: list[list[int]] = []

    async def read(ids: list[int]) -> list[Row]:
        reads.append(ids)
        return [webhook_row(7, updated_at=2, enabled=0)]  # 7 disabled, 8 deleted

    def current(webhook_id: int) -> Target | None:
        return asyncio.run(targets.current(webhook_id, lambda: [7, 8], read))

    assert current(7) is targets.get(7) and reads == []  # nothing changed: no read
    targets.mark_stale()
    seven = current(7)
    assert reads == [[7, 8]] and seven is not None and seven.not_sendable() == "webhook is disabled; not sent"
    assert current(8) is None and reads == [[7, 8]]  # read once per change
    assert targets.versions == {7: 2}


def test_a_failed_read_is_tried_again_at_the_next_send() -> None:
    targets = Targets(CIPHER)
    targets.refresh([webhook_row(7)])
    tries = 0

    async def read(ids: list[int]) -> list[Row]:
        nonlocal tries
        tries += 1
        if tries == 1:
            raise ConnectionError("database away")
        return [webhook_row(7, updated_at=2)]

    targets.mark_stale()
    with pytest.raises(ConnectionError):
        asyncio.run(targets.current(7, lambda: [7], read))
    target = asyncio.run(targets.current(7, lambda: [7], read))
    assert tries == 2 and target is not None and target.updated_at == 2
