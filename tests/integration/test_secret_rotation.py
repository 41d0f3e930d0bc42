"""A rotated signing secret keeps signing beside the new one for 24 hours and not a moment
longer, and only the last two secrets ever sign: through the API and the live dispatcher,
on SQLite and PostgreSQL, with the service's clock moved by the test."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
from collections.abc import Iterator
from typing import Any

import pytest

from dochooks.clock import iso
from dochooks.runtime import Runtime
from dochooks.tenants import NewTenant
from tests.factories.clients import Api, live_service, webhook_doc
from tests.factories.deliveries import FakeTime
from tests.factories.peers import Received, Receiver

DAY = 24 * 3600
TEST_SEND = {"data": {"type": "webhook_tests", "attributes": {"topic": "document-received"}}}


def expected_signature(secret: str, got: Received) -> str:
    """Standard Webhooks, computed here from its spec: base64 HMAC-SHA256, keyed with the
    secret's base64 after `whsec_`, of `webhook-id.webhook-timestamp.body`."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{got.headers['webhook-id']}.{got.headers['webhook-timestamp']}.".encode() + got.body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signers(got: Received, **secrets: str) -> list[str]:
    """The names of `secrets` whose signature the request carries, sorted, and "unknown"
    for each signature none of them made."""
    given = got.headers["webhook-signature"].split(" ")
    by_signature = {expected_signature(secret, got): name for name, secret in secrets.items()}
    return sorted(by_signature.get(signature, "unknown") for signature in given)


class Hook:
    """One webhook of the tenant, through the API, and what its test sends bring to the receiver."""

    def __init__(self, api: Api, receiver: Receiver, time: FakeTime) -> None:
        self.api, self.receiver, self.time = api, receiver, time
        status, body = api.call("POST", "/v1/webhooks", webhook_doc(receiver.url("/ok/rotation")))
        assert status == 201, body
        self.id = body["data"]["id"]
        self.secret: str = body["data"]["attributes"]["secret"]

    def rotate(self) -> dict[str, Any]:
        status, body = self.api.call("POST", f"/v1/webhooks/{self.id}/secret/rotate")
        assert status == 200, body
        self.secret = body["data"]["attributes"]["secret"]
        return body["data"]["attributes"]  # type: ignore[no-any-return]

    def send(self) -> Received:
        """A test send, as the receiver gets it, signed at the fake time."""
        count = len(self.receiver.at("/ok/rotation"))
        assert self.api.call("POST", f"/v1/webhooks/{self.id}/test", TEST_SEND)[0] == 202
        got = self.receiver.wait_for("/ok/rotation", count + 1)[count]
        assert int(got.headers["webhook-timestamp"]) == self.time.now_ms() // 1000
        return got


@pytest.fixture
def hook(runtime: Runtime, acme: NewTenant, receiver: Receiver) -> Iterator[Hook]:
    time = FakeTime(runtime.clock.now_ms())
    with live_service(dataclasses.replace(runtime, clock=time)) as base:
        yield Hook(Api(base, acme.token), receiver, time)


def test_the_previous_secret_stops_signing_after_24_hours(hook: Hook) -> None:
    old = hook.secret
    assert signers(hook.send(), old=old) == ["old"]
    hook.time.advance(60)
    rotated_at = hook.time.now_ms()
    shown = hook.rotate()
    assert shown["previous_secret_expires_at"] == iso(rotated_at + DAY * 1000)
    new = hook.secret
    assert signers(hook.send(), old=old, new=new) == ["new", "old"]
    hook.time.advance(DAY - 1)  # the last second of the overlap
    assert signers(hook.send(), old=old, new=new) == ["new", "old"]
    hook.time.advance(1)  # 24 hours to the millisecond
    assert signers(hook.send(), old=old, new=new) == ["new"]
    shown = hook.api.call("GET", f"/v1/webhooks/{hook.id}")[1]["data"]["attributes"]
    assert shown["previous_secret_expires_at"] is None


def test_rotating_twice_leaves_exactly_the_last_two_secrets_signing(hook: Hook) -> None:
    first = hook.secret
    hook.time.advance(60)
    hook.rotate()
    second = hook.secret
    hook.time.advance(3600)
    hook.rotate()  # within the first rotation's overlap
    third = hook.secret
    assert len({first, second, third}) == 3
    assert signers(hook.send(), first=first, second=second, third=third) == ["second", "third"]
    hook.time.advance(DAY - 3600)  # the first rotation's overlap is over; the second's is not
    assert signers(hook.send(), first=first, second=second, third=third) == ["second", "third"]
    hook.time.advance(3600)
    assert signers(hook.send(), first=first, second=second, third=third) == ["third"]


def test_a_rotation_in_the_same_millisecond_as_the_last_send_still_signs_the_next_one(hook: Hook) -> None:
    # The dispatcher keeps a decrypted copy of each webhook by its version: a change must
    # move that version even when the clock has not moved since the copy was made.
    first = hook.secret
    assert signers(hook.send(), first=first) == ["first"]
    hook.rotate()  # the clock stands still
    second = hook.secret
    assert signers(hook.send(), first=first, second=second) == ["first", "second"]
    hook.rotate()
    assert signers(hook.send(), first=first, second=second, third=hook.secret) == ["second", "third"]
