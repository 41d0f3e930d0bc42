"""The topics dochooks delivers: its 22 workflow topics and its 4 operational ones. The main
repository's tests check this list against the service's own (`dochooks.topics`)."""

from __future__ import annotations

from enum import StrEnum


class Topic(StrEnum):
    """A delivery's `topic`; compares equal to its string value."""

    DOCUMENT_RECEIVED = "document-received"
    PREPROCESSING_DONE = "preprocessing-done"
    AUTOMATIC_SEPARATION_DONE = "automatic-separation-done"
    READY_FOR_SEPARATION_FIRST_LEVEL = "ready-for-separation-first-level"
    READY_FOR_SEPARATION_SECOND_LEVEL = "ready-for-separation-second-level"
    READY_FOR_SEPARATION_THIRD_LEVEL = "ready-for-separation-third-level"
    READY_FOR_SEPARATION_QC = "ready-for-separation-qc"
    SEPARATION_DONE = "separation-done"
    AUTOMATIC_CLASSIFICATION_DONE = "automatic-classification-done"
    READY_FOR_CLASSIFICATION_FIRST_LEVEL = "ready-for-classification-first-level"
    READY_FOR_CLASSIFICATION_SECOND_LEVEL = "ready-for-classification-second-level"
    READY_FOR_CLASSIFICATION_THIRD_LEVEL = "ready-for-classification-third-level"
    READY_FOR_CLASSIFICATION_QC = "ready-for-classification-qc"
    CLASSIFICATION_DONE = "classification-done"
    AUTOMATIC_EXTRACTION_DONE = "automatic-extraction-done"
    READY_FOR_EXTRACTION_FIRST_LEVEL = "ready-for-extraction-first-level"
    READY_FOR_EXTRACTION_SECOND_LEVEL = "ready-for-extraction-second-level"
    READY_FOR_EXTRACTION_THIRD_LEVEL = "ready-for-extraction-third-level"
    READY_FOR_EXTRACTION_QC = "ready-for-extraction-qc"
    EXTRACTION_DONE = "extraction-done"
    PROCESSING_FINISHED = "processing-finished"
    PROCESSING_FAILED = "processing-failed"
    # Operational: about the tenant's webhooks rather than its documents.
    WEBHOOK_FAILING = "webhook-failing"
    WEBHOOK_DISABLED = "webhook-disabled"
    WEBHOOK_RECOVERED = "webhook-recovered"
    DELIVERY_EXHAUSTED = "delivery-exhausted"

    @property
    def operational(self) -> bool:
        """Whether the topic is about a webhook (or a delivery) rather than a document."""
        return self in OPERATIONAL_TOPICS


OPERATIONAL_TOPICS: tuple[Topic, ...] = (
    Topic.WEBHOOK_FAILING,
    Topic.WEBHOOK_DISABLED,
    Topic.WEBHOOK_RECOVERED,
    Topic.DELIVERY_EXHAUSTED,
)
WORKFLOW_TOPICS: tuple[Topic, ...] = tuple(t for t in Topic if t not in OPERATIONAL_TOPICS)
