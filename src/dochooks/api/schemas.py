"""Request bodies as pydantic models: they validate input and document it in OpenAPI."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class WebhookAttributes(_Strict):
    name: str = Field(description="A name for people; shown in the list.", examples=["ERP inbox"])
    url: str = Field(
        description="Where deliveries are POSTed: a public http(s) URL.",
        examples=["https://example.com/hooks"],
    )
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="Custom headers sent with every delivery, e.g. Authorization. Values are secret: "
        "encrypted at rest and shown masked after creation.",
        examples=[{"Authorization": "Bearer s3cr3t-token"}],
    )
    topics: list[str] = Field(
        description="Topic values to deliver; see GET /v1/topics.", examples=[["document-received"]]
    )
    enabled: bool = True


class WebhookChanges(_Strict):
    name: str | None = None
    url: str | None = None
    headers: dict[str, str] | None = Field(
        default=None,
        description="Replaces the set; a value sent back in its masked form keeps the stored value.",
    )
    topics: list[str] | None = None
    enabled: bool | None = None


class WebhookResource(_Strict):
    type: Literal["webhooks"]
    attributes: WebhookAttributes


class WebhookChangesResource(_Strict):
    type: Literal["webhooks"]
    id: str | None = None
    attributes: WebhookChanges


class WebhookDocument(_Strict):
    data: WebhookResource


class WebhookChangesDocument(_Strict):
    data: WebhookChangesResource


class WebhookTestAttributes(_Strict):
    topic: str = Field(examples=["document-received"])


class WebhookTestResource(_Strict):
    type: Literal["webhook_tests"]
    attributes: WebhookTestAttributes


class WebhookTestDocument(_Strict):
    data: WebhookTestResource


class FileAttributes(_Strict):
    base64_file: str = Field(description="The file's bytes in base64.")


class DocumentAttributes(_Strict):
    files: list[FileAttributes] = Field(description="The upload; one document per upload.")
    name: str | None = Field(default=None, examples=["invoice-4711.pdf"])
    external_id: str | None = Field(default=None, description="Your id, for lookups.", examples=["EX123456789"])
    custom_fields: dict[str, Any] = Field(default_factory=dict, description="Echoed in every payload.")


class DocumentResource(_Strict):
    type: Literal["documents"]
    attributes: DocumentAttributes


class DocumentDocument(_Strict):
    data: DocumentResource


class ValidationAttributes(_Strict):
    document_type: str | None = Field(default=None, description="Correct the type while classifying.")
    fields: dict[str, str] | None = Field(default=None, description="Correct extracted fields while extracting.")


class ValidationResource(_Strict):
    type: Literal["validations"]
    attributes: ValidationAttributes = Field(default_factory=ValidationAttributes)


class ValidationDocument(_Strict):
    data: ValidationResource


class WorkflowAttributes(_Strict):
    separation: list[str] | None = Field(default=None, examples=[["first-level"]])
    classification: list[str] | None = Field(default=None, examples=[[]])
    extraction: list[str] | None = Field(default=None, examples=[["first-level", "qc"]])
    processing_target_seconds: int | None = Field(
        default=None, description="Each new document's sla_deadline is its upload time plus this; null for none."
    )
    classification_rules: dict[str, list[str]] | None = Field(
        default=None, description="Document type by keywords.", examples=[{"invoice": ["invoice", "amount due"]}]
    )
    extraction_rules: dict[str, dict[str, str]] | None = Field(
        default=None,
        description="Per type, field name to regular expression (first group).",
        examples=[{"invoice": {"total": "Total:\\s*(\\S+)"}}],
    )


class WorkflowResource(_Strict):
    type: Literal["workflows"]
    attributes: WorkflowAttributes


class WorkflowDocument(_Strict):
    data: WorkflowResource
