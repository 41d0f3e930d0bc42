from __future__ import annotations

from dochooks.ui.render import step_state


def test_a_documents_state_within_its_step_reads_in_words() -> None:
    assert step_state("validation:first-level") == "waiting for first level validation"
    assert step_state("automatic") == "automatic processing"
    assert step_state("something-new") == "something-new"
