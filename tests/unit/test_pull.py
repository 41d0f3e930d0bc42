"""`listen --pull`'s decisions: which refusals of the feed end the command, how long it backs
off, the request an event is forwarded as (checked with the receiver module's verify), and
what it says when the address is not dochooks' API."""

from __future__ import annotations

import asyncio
import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from dochooks_receiver import DocumentEvent, Feed, verify

from dochooks.cli_trigger import Api, ApiError
from dochooks.pull import MAX_WAIT, Puller, backoff, forwarded, refusal
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


def test_an_address_that_is_not_dochooks_api_is_an_api_error_not_a_crash() -> None:
    """`--api-url` pointing at some other web server that answers 200: what it answers is not
    JSON, or JSON without the feed's fields; both are told as such, never a traceback."""
    answers = [b"<html>hello</html>", b"[1, 2]", b'{"data": []}']

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = answers.pop(0)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        api = Api(f"http://127.0.0.1:{server.server_port}", "dh_token")
        with pytest.raises(ApiError, match="not JSON"):
            api.call("GET", "/v1/events")
        with pytest.raises(ApiError, match="not a JSON:API document"):
            api.call("GET", "/v1/events")
        puller = Puller(api, since=None, interval=1, out=io.StringIO())
        with pytest.raises(ApiError, match=r"meta\.cursor"):
            asyncio.run(puller.page())
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("size", [0, 1001])
def test_the_receiver_modules_feed_refuses_a_page_size_the_service_would_not_serve(size: int) -> None:
    with pytest.raises(ValueError, match="page_size must be 1 to 1000"):
        Feed("http://127.0.0.1:8000", "dh_token", page_size=size)
