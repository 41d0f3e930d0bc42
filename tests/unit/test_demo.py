"""The demo's sample document."""

from __future__ import annotations

from dochooks.demo import sample_pdf
from dochooks.documents.processors import preprocess


def test_the_sample_pdf_is_a_readable_one_page_pdf_with_its_text() -> None:
    content = preprocess([sample_pdf("Invoice 42")])
    assert (content.file_type, content.page_count) == ("pdf", 1) and "Invoice 42" in content.text
