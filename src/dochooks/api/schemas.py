"""Request bodies as pydantic models: they validate input and document it in OpenAPI."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from dochooks.web.inputs import TEN_YEARS, DocumentAttributes, ShortText, Strict, Text, ValidationAttributes

_ORDERED = (
    "Ordered delivery: a document's topics reach this webhook one at a time, in workflow order. A later "
    "topic of a document waits while an earlier one is still pending (in flight or waiting for a retry) "
    "and goes once that one succeeded or failed for good; other documents are not held. Applies to "
    "deliveries queued after the change. Test sends and operational topics are never held."
)


class WebhookAttributes(Strict):
    name: Text = Field(description="A name for people; shown in the list.", examples=["ERP inbox"])
    url: Text = Field(
        description="Where deliveries are POSTed: a public http(s) URL.",
        examples=["https://example.com/hooks"],
    )
    headers: dict[Text, Text] = Field(
        default_factory=dict,
        description="Custom headers sent with every delivery, e.g. Authorization. Values are secret: "
        "encrypted at rest and shown masked after creation.",
        examples=[{"Authorization": "Bearer s3cr3t-token"}],
    )
    topics: list[str] = Field(
        description="Topic values to deliver; see GET /v1/topics.", examples=[["document-received"]]
    )
    enabled: bool = True
    ordered: bool = Field(default=False, description=_ORDERED)


class WebhookChanges(Strict):
    name: Text | None = None
    url: Text | None = None
    headers: dict[Text, Text] | None = Field(
        default=None,
        description="Replaces the set; a value sent back in its masked form keeps the stored value.",
    )
    topics: list[Text] | None = None
    enabled: bool | None = None
    ordered: bool | None = Field(default=None, description=_ORDERED)


class WebhookResource(Strict):
    type: Literal["webhooks"]
    attributes: WebhookAttributes


class WebhookChangesResource(Strict):
    type: Literal["webhooks"]
    id: Text | None = None
    attributes: WebhookChanges


class WebhookBody(Strict):
    data: WebhookResource


class WebhookChangesBody(Strict):
    data: WebhookChangesResource


class WebhookTestAttributes(Strict):
    topic: Text = Field(examples=["document-received"])


class WebhookTestResource(Strict):
    type: Literal["webhook_tests"]
    attributes: WebhookTestAttributes


class WebhookTestBody(Strict):
    data: WebhookTestResource


class DocumentResource(Strict):
    type: Literal["documents"]
    attributes: DocumentAttributes


class DocumentUploadBody(Strict):
    data: DocumentResource


class ValidationResource(Strict):
    type: Literal["validations"]
    attributes: ValidationAttributes = Field(default_factory=ValidationAttributes)


class ValidationBody(Strict):
    data: ValidationResource


class WorkflowAttributes(Strict):
    separation: list[Text] | None = Field(default=None, examples=[["first-level"]])
    classification: list[Text] | None = Field(default=None, examples=[[]])
    extraction: list[Text] | None = Field(default=None, examples=[["first-level", "qc"]])
    processing_target_seconds: int | None = Field(
        default=None,
        ge=1,
        le=TEN_YEARS,
        description="Each new document's sla_deadline is its upload time plus this; null for none.",
    )
    document_retention_days: int | None = Field(
        default=None,
        ge=0,
        le=3650,
        description="Days finished and failed documents (and their files) are kept after their last change; "
        "0 keeps them for good, null follows the service's DOCHOOKS_DOCUMENT_RETENTION_DAYS. "
        "Documents still in progress or waiting for validation are never pruned.",
    )
    classification_rules: dict[ShortText, list[Text]] | None = Field(
        default=None, description="Document type by keywords.", examples=[{"invoice": ["invoice", "amount due"]}]
    )
    extraction_rules: dict[ShortText, dict[ShortText, Text]] | None = Field(
        default=None,
        description="Per type, field name to regular expression (first group).",
        examples=[{"invoice": {"total": "Total:\\s*(\\S+)"}}],
    )


class WorkflowResource(Strict):
    type: Literal["workflows"]
    attributes: WorkflowAttributes


class WorkflowBody(Strict):
    data: WorkflowResource


class RecoveryAttributes(Strict):
    since: Text = Field(
        description="ISO 8601 time: deliveries last changed (for failed ones: that failed) at or after it.",
        examples=["2026-01-31T12:00:00Z"],
    )
    status: Literal["failed", "succeeded", "all"] = Field(
        default="failed", description="Which deliveries to make due again, by their status."
    )


class RecoveryResource(Strict):
    type: Literal["recoveries"]
    attributes: RecoveryAttributes


class RecoveryBody(Strict):
    data: RecoveryResource
