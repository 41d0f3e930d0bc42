from __future__ import annotations

import pytest

from dochooks.errors import InvalidInput
from dochooks.webhooks.config import Webhook, check_headers, check_name, check_topics, origin, validated
from dochooks.webhooks.secrets import mask
from dochooks.webhooks.store import headers_after, merge_headers
from dochooks.webhooks.url_safety import AddressPolicy


def test_unknown_topics_are_named_in_the_error() -> None:
    with pytest.raises(InvalidInput, match="document-lost"):
        check_topics(["document-received", "document-lost"])


def test_topics_are_required_and_deduplicated() -> None:
    with pytest.raises(InvalidInput):
        check_topics([])
    assert check_topics(["document-received", "document-received"]) == ("document-received",)


@pytest.mark.parametrize(
    "name",
    [
        "Content-Type",
        "webhook-signature",
        "Host",
        "content-length",
        # the same once a CGI/WSGI receiver reads `_` as `-`
        "Webhook_Signature",
        "WEBHOOK_ID",
        "webhook_timestamp",
        "Content_Length",
        "content_type",
        # hop-by-hop, framing and transport headers
        "TE",
        "Upgrade",
        "Expect",
        "Connection",
        "Keep-Alive",
        "Proxy-Authorization",
        "Proxy_Authorization",
        "Content-Encoding",
        "Transfer-Encoding",
        "Transfer_Encoding",
        "Trailer",
    ],
)
def test_headers_dochooks_sets_or_that_steer_the_connection_cannot_be_custom(name: str) -> None:
    with pytest.raises(InvalidInput, match=name):
        check_headers({name: "x"})


def test_names_that_a_receiver_would_read_as_one_are_given_twice() -> None:
    with pytest.raises(InvalidInput, match="twice"):
        check_headers({"X-Api-Key": "a", "x_api_key": "b"})


CONTROL_CHARACTERS = [
    "http://1.1.1.1/\r\nX-Injected: 1",
    "http://1.1.1.1/a\nb",
    "http://1.1.1.1/a\tb",
    "http://1.1.\t1.1/",
    "http://1.1.1.1/\x7f",
    "http://1.1.1.1/a\x85b",
    "http://1.1.1.1/a b",
    "http://1.1.1.1/\u200bx",  # zero-width space
    "http://1.1.1.1/a\u2028b",
    "http://exa\u00admple.com/",  # soft hyphen
    "http://1.1.1.1/\x00",
]


@pytest.mark.parametrize("url", CONTROL_CHARACTERS)
def test_urls_with_control_format_or_blank_characters_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput, match="control characters") as refused:
        validated({"url": url}, policy=AddressPolicy(allow_private=True))
    assert refused.value.pointer == "/data/attributes/url"


def test_blanks_around_a_url_are_trimmed() -> None:
    assert validated({"url": "  http://1.1.1.1/x\n"}, policy=AddressPolicy())["url"] == "http://1.1.1.1/x"


@pytest.mark.parametrize("headers", [{"X-A": "one\r\nX-Injected: 1"}, {"Bad Name": "x"}, {"X-A": "a", "x-a": "b"}])
def test_header_injection_bad_names_and_duplicates_are_refused(headers: dict[str, str]) -> None:
    with pytest.raises(InvalidInput):
        check_headers(headers)


def test_blank_names_are_refused_and_names_trimmed() -> None:
    with pytest.raises(InvalidInput):
        check_name("   ")
    assert check_name("  ERP  ") == "ERP"


def test_validated_checks_only_what_is_given() -> None:
    assert validated({"name": "x", "url": None, "enabled": False}, policy=AddressPolicy()) == {
        "name": "x",
        "enabled": False,
    }


def test_a_masked_value_sent_back_keeps_the_stored_secret() -> None:
    current = {"Authorization": "Bearer a-long-secret-token-value"}
    merged, kept = merge_headers(current, {"authorization": mask(current["Authorization"]), "X-New": "1"})
    assert merged == {"authorization": "Bearer a-long-secret-token-value", "X-New": "1"} and kept == {"authorization"}
    assert merge_headers(current, {"Authorization": "Bearer new"}) == ({"Authorization": "Bearer new"}, set())


SECRET = "Bearer a-long-secret-token-value"
HOOK = Webhook(
    id=1,
    tenant_id=1,
    name="ERP",
    url="https://erp.example.com/hooks",
    headers={"Authorization": SECRET},
    topics=("document-received",),
    enabled=True,
    secret="whsec_x",
    created_at=0,
    updated_at=0,
)


@pytest.mark.parametrize(
    "url",
    [
        "https://attacker.example/hooks",  # another host
        "http://erp.example.com/hooks",  # another scheme
        "https://erp.example.com:8443/hooks",  # another port
        "https://erp.example.com.attacker.example/hooks",
        "https://[2001:db8::1]/hooks",
    ],
)
def test_stored_header_values_do_not_follow_the_url_to_another_origin(url: str) -> None:
    for changes in ({"url": url}, {"url": url, "headers": {"Authorization": mask(SECRET)}}):
        with pytest.raises(InvalidInput, match="another origin") as refused:
            headers_after(HOOK, changes)
        assert refused.value.pointer == "/data/attributes/headers" and SECRET not in refused.value.detail


@pytest.mark.parametrize(
    "changes",
    [
        {"url": "https://erp.example.com/other/path?x=1"},  # the same origin
        {"url": "https://ERP.example.com:443/hooks"},  # the same origin, spelled otherwise
        {"url": "https://new.example/hooks", "headers": {"Authorization": "Bearer typed-again"}},
        {"url": "https://new.example/hooks", "headers": {}},  # removed
        {"name": "renamed"},
    ],
)
def test_a_same_origin_url_or_values_sent_again_or_removed_are_accepted(changes: dict[str, object]) -> None:
    headers = headers_after(HOOK, changes)
    assert headers == changes.get("headers", {"Authorization": SECRET})


def test_the_origin_is_scheme_host_and_port_with_default_ports_filled_in() -> None:
    assert origin("https://Example.COM/a") == origin("https://example.com:443/b") == "https://example.com:443"
    assert origin("http://example.com") == "http://example.com:80"
