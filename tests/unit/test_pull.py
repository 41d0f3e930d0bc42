"""`listen --pull`'s decisions: which refusals of the feed end the command, how long it backs
off, and the request an event is forwarded as (checked with the receiver module's verify)."""

from __future__ import annotations

from dochooks_receiver import DocumentEvent, verify

from dochooks.cli_trigger import ApiError
from dochooks.pull import MAX_WAIT, backoff, forwarded, refusal
from dochooks.webhooks.secrets import new_signing_secret
from tests.factories.deliveries import PAYLOAD

NOW = 1_764_540_000


def test_only_refusals_that_waiting_cannot_mend_end_the_command() -> None:
    gone = ApiError("GET /v1/events: 410 Gone", 410, [{"status": "410", "meta": {"resume_from": "c9"}}])
    stop = refusal(gone, "c1")
    assert stop is not None and stop.resume_from == "c9" and "cursor c1 is older" in stop.message
    for status in (401, 404, 400):
        assert refusal(ApiError("refused", status), "c1") is not None
    for status in (None, 429, 500, 502, 503):
        assert refusal(ApiError("try later", status), "c1") is None


def test_backoff_doubles_from_the_interval_up_to_a_minute() -> None:
    assert [backoff(n, 2.0) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]
    assert backoff(30, 2.0) == MAX_WAIT


def test_a_forwarded_event_is_its_payload_signed_under_the_event_id_with_every_secret() -> None:
    old, new = new_signing_secret(), new_signing_secret()
    payload = {**PAYLOAD, "topic": "document-received"}
    event = {"id": "77", "attributes": {"payload": payload, "request_ids": ["a" * 32, "b" * 32]}}
    headers, body = forwarded(event, [old, new], NOW)
    named = dict(headers)
    for secret in (old, new):
        got = verify(secret, named, body, now=NOW)
        assert isinstance(got, DocumentEvent) and got.request_id == "77" and got.id == "42"
    assert named["webhook-id"] == "77" and named["dochooks-request-ids"] == f"{'a' * 32},{'b' * 32}"
    unsigned, _ = forwarded(event, [], NOW)
    assert "webhook-signature" not in dict(unsigned)
