"""Request bodies as pydantic models: they validate input and document it in OpenAPI."""

from __future__ import annotations

from typing import Literal

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
