from __future__ import annotations

from dochooks.documents import workflow


def test_an_upload_is_received_pending_and_preprocessed_at_once() -> None:
    start = workflow.on_upload()
    assert start.topics == ("document-received",) and start.changes["status"] == "pending" and start.run_now


def test_without_levels_each_stage_finishes_with_its_automatic_step() -> None:
    sep = workflow.after_automatic("separation", (), {})
    assert sep.topics == ("automatic-separation-done", "separation-done")
    assert sep.changes["workflow_step"] == "classification" and sep.run_now
    ext = workflow.after_automatic("extraction", (), {"extracted": {"total": "1"}})
    assert ext.topics == ("automatic-extraction-done", "extraction-done")
    assert ext.changes["workflow_step"] == "outbound" and ext.changes["extracted"] == {"total": "1"} and ext.run_now
    finished = workflow.after_outbound()
    assert finished.topics == ("processing-finished",) and finished.changes["status"] == "done"


def test_a_configured_level_makes_the_document_wait_in_progress() -> None:
    waiting = workflow.after_automatic("classification", ("second-level", "qc"), {})
    assert waiting.topics == ("automatic-classification-done", "ready-for-classification-second-level")
    assert waiting.changes["pending_validation"] == "ready-for-classification-second-level"
    assert waiting.changes["status"] == "in_progress" and not waiting.run_now
    assert workflow.waiting_level(waiting.changes["state"]) == "second-level"


def test_validation_moves_to_the_next_level_then_out_of_the_stage() -> None:
    levels = ("first-level", "qc")
    nxt = workflow.after_validation("separation", "first-level", levels, {})
    assert nxt.topics == ("ready-for-separation-qc",)
    out = workflow.after_validation("separation", "qc", levels, {})
    assert out.topics == ("separation-done",) and out.changes["workflow_step"] == "classification" and out.run_now


def test_a_level_removed_from_the_configuration_meanwhile_still_completes() -> None:
    assert workflow.after_validation("extraction", "second-level", (), {}).topics == ("extraction-done",)


def test_failure_ends_in_processing_failed() -> None:
    failed = workflow.failed("the PDF cannot be read")
    assert failed.topics == ("processing-failed",) and failed.changes["status"] == "failed"


def test_a_stages_status_follows_the_document_through_the_workflow() -> None:
    def status(step: str, state: str) -> tuple[str, str]:
        return workflow.stage_status(step, state, "classification"), workflow.stage_status(step, state, "extraction")

    assert status("inbound", "preprocessing") == ("pending", "pending")
    assert status("classification", "automatic") == ("pending", "pending")
    assert status("classification", workflow.waiting_at("qc")) == ("validating", "pending")
    assert status("extraction", "automatic") == ("done", "pending")
    assert status("extraction", workflow.waiting_at("first-level")) == ("done", "validating")
    assert status("outbound", "finished") == ("done", "done")
    assert status("inbound", "failed") == ("failed", "failed")  # unreadable: neither stage will run
    assert status("extraction", "failed") == ("done", "failed")  # a pattern's time limit
