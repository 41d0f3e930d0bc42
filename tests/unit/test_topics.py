from __future__ import annotations

from dochooks.topics import BY_VALUE, STAGES, TOPICS


def test_the_reference_lists_twenty_two_topics_each_once() -> None:
    assert len(TOPICS) == 22
    assert len(BY_VALUE) == 22


def test_titles_and_stages_match_the_reference_table() -> None:
    assert BY_VALUE["document-received"].title == "DOCUMENT RECEIVED"
    assert BY_VALUE["ready-for-separation-first-level"].title == "READY FOR SEPARATION 1ST LEVEL"
    assert BY_VALUE["ready-for-classification-second-level"].title == "READY FOR CLASSIFICATION SECOND LEVEL"
    assert BY_VALUE["ready-for-extraction-qc"].title == "READY FOR EXTRACTION QC"
    assert BY_VALUE["processing-failed"].stage == "outbound"
    assert [t.stage for t in TOPICS].count("separation") == 6
    assert {t.stage for t in TOPICS} == set(STAGES)
