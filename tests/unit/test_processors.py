from __future__ import annotations

import time

import pytest

from dochooks.documents.processors import (
    MAX_MATCH_CHARS,
    ProcessorError,
    Unreadable,
    classify,
    extract,
    load_processors,
    preprocess,
)
from tests.factories.documents import make_pdf


def test_a_pdf_gives_its_pages_and_text() -> None:
    content = preprocess([make_pdf("Invoice Total: 42.00", "second page")])
    assert (content.file_type, content.page_count) == ("pdf", 2)
    assert "Invoice Total: 42.00" in content.text


def test_images_and_plain_text_are_recognised() -> None:
    assert preprocess([b"\x89PNG\r\n\x1a\n" + b"\x00" * 20]).file_type == "image"
    assert preprocess(["Grüße".encode()]).text == "Grüße"


@pytest.mark.parametrize("data", [b"", b"%PDF-1.4\nnot really a pdf", b"\x00\x01\x02binary", b"\xff\xfe\xfa"])
def test_empty_corrupt_and_unsupported_files_are_unreadable(data: bytes) -> None:
    with pytest.raises(Unreadable):
        preprocess([data])


def test_classification_picks_the_type_with_the_most_keyword_hits() -> None:
    rules = {"invoice": ["invoice", "total"], "letter": ["dear"]}
    assert classify("INVOICE no 4 -- Total: 5", rules) == "invoice"
    assert classify("Dear Sir", rules) == "letter"
    assert classify("nothing to see", rules) is None


def test_extraction_takes_the_first_group_of_the_types_patterns() -> None:
    rules = {"invoice": {"total": r"total:\s*(\S+)", "number": r"invoice no (\d+)", "missing": r"iban (\S+)"}}
    assert extract("Invoice no 4711\nTotal: 42.00", "invoice", rules) == {"total": "42.00", "number": "4711"}
    assert extract("Total: 1", None, rules) == {}


def test_a_setting_replaces_a_default_processor() -> None:
    processors = load_processors("tests.unit.test_processors:CUSTOM")
    assert processors.classify("x", {}) == "always"
    assert processors.preprocess is preprocess


CUSTOM = {"classify": lambda text, rules: "always"}


def test_an_optional_group_that_did_not_match_leaves_the_field_out() -> None:
    assert extract("total: none", "i", {"i": {"t": r"total:\s*(\d+)?"}}) == {}


def test_a_pathological_pattern_fails_the_document_within_its_time_limit() -> None:
    started = time.monotonic()
    with pytest.raises(ProcessorError, match="took longer"):
        extract("a" * 3000, "i", {"i": {"t": r"(?:(?:a+)+)+\d"}})
    assert time.monotonic() - started < 5


def test_the_time_limit_is_shared_by_all_of_a_documents_patterns() -> None:
    """Fifty slow patterns cost one limit, not fifty: one pattern's time is what all may take."""
    slow = {f"f{i}": rf"(?:(?:a+)+)+{i}" for i in range(50)}
    started = time.monotonic()
    with pytest.raises(ProcessorError, match="took longer"):
        extract("a" * 3000, "i", {"i": slow})
    assert time.monotonic() - started < 5


def test_a_stored_pattern_over_the_limits_fails_its_document_without_being_compiled() -> None:
    """Rules saved before the limits existed are priced again when they run."""
    with pytest.raises(ProcessorError, match="repeats 99999999 times"):
        extract("aaa", "i", {"i": {"t": "a{99999999}"}})


def test_classification_reads_a_bounded_part_of_the_text() -> None:
    text = "x" * MAX_MATCH_CHARS + " invoice"
    assert classify(text, {"invoice": ["invoice"]}) is None
