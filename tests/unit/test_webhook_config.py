from __future__ import annotations

import pytest

from dochooks.errors import InvalidInput
from dochooks.webhooks.config import check_headers, check_name, check_topics, validated
from dochooks.webhooks.secrets import mask
from dochooks.webhooks.store import merge_headers
from dochooks.webhooks.url_safety import TargetPolicy


def test_unknown_topics_are_named_in_the_error() -> None:
    with pytest.raises(InvalidInput, match="document-lost"):
        check_topics(["document-received", "document-lost"])


def test_topics_are_required_and_deduplicated() -> None:
    with pytest.raises(InvalidInput):
        check_topics([])
    assert check_topics(["document-received", "document-received"]) == ("document-received",)


@pytest.mark.parametrize("name", ["Content-Type", "webhook-signature", "Host", "content-length"])
def test_headers_dochooks_sets_cannot_be_overridden(name: str) -> None:
    with pytest.raises(InvalidInput, match=name):
        check_headers({name: "x"})


@pytest.mark.parametrize("headers", [{"X-A": "one\r\nX-Injected: 1"}, {"Bad Name": "x"}, {"X-A": "a", "x-a": "b"}])
def test_header_injection_bad_names_and_duplicates_are_refused(headers: dict[str, str]) -> None:
    with pytest.raises(InvalidInput):
        check_headers(headers)


def test_blank_names_are_refused_and_names_trimmed() -> None:
    with pytest.raises(InvalidInput):
        check_name("   ")
    assert check_name("  ERP  ") == "ERP"


def test_validated_checks_only_what_is_given() -> None:
    assert validated({"name": "x", "url": None, "enabled": False}, policy=TargetPolicy()) == {
        "name": "x",
        "enabled": False,
    }


def test_a_masked_value_sent_back_keeps_the_stored_secret() -> None:
    current = {"Authorization": "Bearer a-long-secret-token-value"}
    kept = merge_headers(current, {"authorization": mask(current["Authorization"]), "X-New": "1"})
    assert kept == {"authorization": "Bearer a-long-secret-token-value", "X-New": "1"}
    assert merge_headers(current, {"Authorization": "Bearer new"}) == {"Authorization": "Bearer new"}
