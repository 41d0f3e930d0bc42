"""Request bodies as pydantic models: they validate input and document it in OpenAPI."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _storable(value: str) -> str:
    """Text both databases can store and every client can read back."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from exc
    return value


Text = Annotated[str, AfterValidator(_storable)]
ShortText = Annotated[Text, Field(max_length=255)]
TEN_YEARS = 10 * 365 * 24 * 3600


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class WebhookAttributes(_Strict):
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


class WebhookChanges(_Strict):
    name: Text | None = None
    url: Text | None = None
    headers: dict[Text, Text] | None = Field(
        default=None,
        description="Replaces the set; a value sent back in its masked form keeps the stored value.",
    )
    topics: list[Text] | None = None
    enabled: bool | None = None


class WebhookResource(_Strict):
    type: Literal["webhooks"]
    attributes: WebhookAttributes


class WebhookChangesResource(_Strict):
    type: Literal["webhooks"]
    id: Text | None = None
    attributes: WebhookChanges


class WebhookDocument(_Strict):
    data: WebhookResource


class WebhookChangesDocument(_Strict):
    data: WebhookChangesResource


class WebhookTestAttributes(_Strict):
    topic: Text = Field(examples=["document-received"])


class WebhookTestResource(_Strict):
    type: Literal["webhook_tests"]
    attributes: WebhookTestAttributes


class WebhookTestDocument(_Strict):
    data: WebhookTestResource


class FileAttributes(_Strict):
    base64_file: Text = Field(description="The file's bytes in base64.")


class DocumentAttributes(_Strict):
    files: list[FileAttributes] = Field(description="The upload; one document per upload.")
    name: ShortText | None = Field(default=None, examples=["invoice-4711.pdf"])
    external_id: ShortText | None = Field(default=None, description="Your id, for lookups.", examples=["EX123456789"])
    custom_fields: dict[str, Any] = Field(default_factory=dict, description="Echoed in every payload.")


class DocumentResource(_Strict):
    type: Literal["documents"]
    attributes: DocumentAttributes


class DocumentDocument(_Strict):
    data: DocumentResource


class ValidationAttributes(_Strict):
    document_type: ShortText | None = Field(default=None, description="Correct the type while classifying.")
    fields: dict[ShortText, Text] | None = Field(default=None, description="Correct extracted fields while extracting.")


class ValidationResource(_Strict):
    type: Literal["validations"]
    attributes: ValidationAttributes = Field(default_factory=ValidationAttributes)


class ValidationDocument(_Strict):
    data: ValidationResource


class WorkflowAttributes(_Strict):
    separation: list[Text] | None = Field(default=None, examples=[["first-level"]])
    classification: list[Text] | None = Field(default=None, examples=[[]])
    extraction: list[Text] | None = Field(default=None, examples=[["first-level", "qc"]])
    processing_target_seconds: int | None = Field(
        default=None,
        ge=1,
        le=TEN_YEARS,
        description="Each new document's sla_deadline is its upload time plus this; null for none.",
    )
    classification_rules: dict[ShortText, list[Text]] | None = Field(
        default=None, description="Document type by keywords.", examples=[{"invoice": ["invoice", "amount due"]}]
    )
    extraction_rules: dict[ShortText, dict[ShortText, Text]] | None = Field(
        default=None,
        description="Per type, field name to regular expression (first group).",
        examples=[{"invoice": {"total": "Total:\\s*(\\S+)"}}],
    )


class WorkflowResource(_Strict):
    type: Literal["workflows"]
    attributes: WorkflowAttributes


class WorkflowDocument(_Strict):
    data: WorkflowResource
