"""What `dochooks listen` decides without a socket: verification, headers relayed, its lines."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from click.testing import CliRunner

from dochooks.cli import main
from dochooks.delivery.signing import sign
from dochooks.forwarding import Relayed, forwarded_headers
from dochooks.receiver import about, check, summary
from dochooks.webhooks.secrets import new_signing_secret, signing_key

BODY = b'{"id": "7", "type": "documents", "attributes": {"document_id": 7}, "topic": "document-received"}'


def signed_by(secret: str) -> dict[str, str]:
    return {
        "webhook-id": "msg_1",
        "webhook-timestamp": "1700000000",
        "webhook-signature": sign(signing_key(secret), "msg_1", 1700000000, BODY),
    }


def test_a_delivery_verifies_when_any_secret_matches() -> None:
    right = new_signing_secret()
    assert check([new_signing_secret(), right], signed_by(right), BODY).verified == "yes"
    assert check([], signed_by(right), BODY).verified == "unknown"


def test_no_secret_matching_says_how_many_were_tried_and_where_the_right_one_is() -> None:
    tried = [new_signing_secret(), "whsec_not-base64!"]
    verdict = check(tried, signed_by(new_signing_secret()), BODY)
    assert verdict.verified == "no" and verdict.hint
    assert "none of the 2 secrets given" in verdict.hint and tried[0][:10] + "…" in verdict.hint
    assert tried[0] not in verdict.hint and "GET /v1/webhooks/{id}/secret" in verdict.hint


def test_hop_by_hop_headers_and_host_are_not_relayed_and_the_rest_is_unchanged() -> None:
    sent = forwarded_headers(
        [
            ("Host", "127.0.0.1:9000"),
            ("Connection", "keep-alive, X-Private"),
            ("X-Private", "1"),
            ("Transfer-Encoding", "chunked"),
            ("Content-Type", "application/json"),
            ("webhook-signature", "v1,a v1,b"),
            ("X-Custom", "one"),
            ("X-Custom", "two"),
        ]
    )
    assert list(sent.items()) == [
        ("Content-Type", "application/json"),
        ("webhook-signature", "v1,a v1,b"),
        ("X-Custom", "one"),
        ("X-Custom", "two"),
    ]


def test_the_json_line_names_the_topic_the_document_and_the_apps_answer() -> None:
    at = datetime(2026, 11, 30, 22, 0, tzinfo=UTC)
    line = json.loads(summary(at, {"webhook-id": "msg_1"}, BODY, check([], {}, BODY), Relayed(500, b"", None, 12)))
    assert line == {
        "time": "2026-11-30T22:00:00.000Z",
        "webhook_id": "msg_1",
        "topic": "document-received",
        "document_id": "7",
        "verified": "unknown",
        "forwarded": 500,
        "duration_ms": 12,
    }
    assert about(b"not json") == (None, None)


def test_forward_to_must_be_an_http_url() -> None:
    result = CliRunner().invoke(main, ["listen", "--forward-to", "localhost:3000/hooks"])
    assert result.exit_code == 2 and "'localhost:3000/hooks' is not an http(s) URL" in result.output
