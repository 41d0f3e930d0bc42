from __future__ import annotations

from dochooks.metrics_http import authorized, where_metrics_are
from dochooks.settings import Settings


def test_without_a_token_metrics_are_open_and_with_one_only_that_bearer_passes() -> None:
    assert authorized(None, None) and authorized("Bearer anything", "")
    assert authorized("Bearer s3cret-token", "s3cret-token")
    assert authorized("bearer s3cret-token", "s3cret-token")  # the scheme is case-insensitive
    for header in (None, "", "Bearer", "Bearer ", "Bearer s3cret", "Bearer s3cret-token2", "Basic s3cret-token"):
        assert not authorized(header, "s3cret-token"), header


def test_a_token_beyond_ascii_matches_the_bytes_a_client_sends() -> None:
    sent = "Bearer grüße".encode().decode("latin-1")  # how a server decodes the header's bytes
    assert authorized(sent, "grüße")


def test_the_start_up_message_says_where_metrics_are_and_never_shows_the_token() -> None:
    own = Settings(metrics_port=9100, metrics_token="s3cret-token")
    assert where_metrics_are(own, api=True) == "metrics at http://127.0.0.1:9100/metrics (bearer token required)"
    assert "s3cret-token" not in where_metrics_are(own, api=False) + repr(own)
    assert where_metrics_are(Settings(), api=True) == "metrics at /metrics on the API's port"
    assert "DOCHOOKS_METRICS_PORT" in where_metrics_are(Settings(), api=False)  # a worker has none without it
    public = where_metrics_are(Settings(host="0.0.0.0"), api=True)
    assert "open to anyone" in public and "DOCHOOKS_METRICS_TOKEN" in public
    assert "http://[::1]:9100/metrics" in where_metrics_are(Settings(metrics_host="::1", metrics_port=9100), api=True)
