"""The bodies dochooks delivers, as frozen dataclasses: a document moved (`DocumentEvent`,
the reference payload), a webhook's health changed (`WebhookEvent`), a delivery gave up
(`DeliveryExhaustedEvent`). Keys this version does not know are ignored; `raw` keeps the body."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from dochooks_receiver.errors import InvalidPayload
from dochooks_receiver.topics import Topic


class DocumentStatus(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class DocumentAttributes:
    status: DocumentStatus
    tenant_id: int
    sla_deadline: datetime | None
    custom_fields: dict[str, Any]
    external_id: str | None
    created_at: datetime
    updated_at: datetime
    document_id: int


@dataclass(frozen=True)
class WebhookAttributes:
    """A webhook and its health after the change; also part of every `delivery-exhausted`."""

    webhook_id: int
    webhook_name: str
    tenant_id: int
    state: str  # healthy, failing or disabled
    failing_since: datetime | None
    consecutive_failures: int
    last_success_at: datetime | None
    last_error: str | None
    disabled_at: datetime | None
    disabled_reason: str | None
    changed_at: datetime | None  # None in a delivery-exhausted


@dataclass(frozen=True)
class DeliveryAttributes:
    delivery_id: int
    delivery_topic: Topic
    attempts: int
    last_error: str | None
    failed_at: datetime
    webhook: WebhookAttributes


@dataclass(frozen=True)
class _Event:
    id: str
    request_id: str  # the webhook-id header: the same through every retry, so the key to drop repeats
    topic: Topic
    raw: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class DocumentEvent(_Event):
    """A workflow topic: document `id` moved (`type` "documents")."""

    attributes: DocumentAttributes


@dataclass(frozen=True)
class WebhookEvent(_Event):
    """`webhook-failing`, `webhook-recovered` or `webhook-disabled` (`type` "webhooks")."""

    attributes: WebhookAttributes


@dataclass(frozen=True)
class DeliveryExhaustedEvent(_Event):
    """`delivery-exhausted`: a delivery failed for good (`type` "deliveries")."""

    attributes: DeliveryAttributes


Event = DocumentEvent | WebhookEvent | DeliveryExhaustedEvent


class _Fields:
    """Typed reads of one JSON object, each failure an `InvalidPayload` naming the key."""

    def __init__(self, value: Any, where: str) -> None:
        if not isinstance(value, dict):
            raise InvalidPayload(f"{where} is not a JSON object")
        self.value, self.where = value, where

    def get(self, key: str, kind: type | tuple[type, ...], *, null: bool = False) -> Any:
        if key not in self.value:
            raise InvalidPayload(f"{self.where}.{key} is missing")
        got = self.value[key]
        if (got is None and null) or (isinstance(got, kind) and not isinstance(got, bool)):
            return got
        raise InvalidPayload(f"{self.where}.{key} has the wrong type: {got!r}")

    def time(self, key: str) -> datetime:
        text = self.get(key, str)
        try:
            return datetime.fromisoformat(text)
        except ValueError as exc:
            raise InvalidPayload(f"{self.where}.{key} is not an ISO 8601 time: {text!r}") from exc

    def time_or_none(self, key: str) -> datetime | None:
        return None if self.get(key, str, null=True) is None else self.time(key)

    def choice(self, key: str, kind: type[StrEnum]) -> Any:
        text = self.get(key, str)
        try:
            return kind(text)
        except ValueError as exc:
            raise InvalidPayload(f"{self.where}.{key} is not a known {kind.__name__}: {text!r}") from exc


def _document(a: _Fields) -> DocumentAttributes:
    return DocumentAttributes(
        status=a.choice("status", DocumentStatus),
        tenant_id=a.get("tenant_id", int),
        sla_deadline=a.time_or_none("sla_deadline"),
        custom_fields=a.get("custom_fields", dict, null=True) or {},
        external_id=a.get("external_id", str, null=True),
        created_at=a.time("created_at"),
        updated_at=a.time("updated_at"),
        document_id=a.get("document_id", int),
    )


def _webhook(a: _Fields, *, changed: bool) -> WebhookAttributes:
    return WebhookAttributes(
        webhook_id=a.get("webhook_id", int),
        webhook_name=a.get("webhook_name", str),
        tenant_id=a.get("tenant_id", int),
        state=a.get("state", str),
        failing_since=a.time_or_none("failing_since"),
        consecutive_failures=a.get("consecutive_failures", int),
        last_success_at=a.time_or_none("last_success_at"),
        last_error=a.get("last_error", str, null=True),
        disabled_at=a.time_or_none("disabled_at"),
        disabled_reason=a.get("disabled_reason", str, null=True),
        changed_at=a.time("changed_at") if changed else None,
    )


def _delivery(a: _Fields) -> DeliveryAttributes:
    return DeliveryAttributes(
        delivery_id=a.get("delivery_id", int),
        delivery_topic=a.choice("delivery_topic", Topic),
        attempts=a.get("attempts", int),
        last_error=a.get("last_error", str, null=True),
        failed_at=a.time("failed_at"),
        webhook=_webhook(a, changed=False),
    )


def parse_event(body: bytes | str) -> Event:
    """The event a delivery's body holds. Call it only on a verified body (`verify` does both)."""
    try:
        doc = _Fields(json.loads(body), "body")
    except ValueError as exc:
        raise InvalidPayload(f"the body is not JSON: {exc}") from exc
    common = {"id": doc.get("id", str), "request_id": doc.get("request_id", str), "raw": doc.value}
    topic = doc.choice("topic", Topic)
    attributes = _Fields(doc.get("attributes", dict), "attributes")
    if topic is Topic.DELIVERY_EXHAUSTED:
        return DeliveryExhaustedEvent(topic=topic, attributes=_delivery(attributes), **common)
    if topic.operational:
        return WebhookEvent(topic=topic, attributes=_webhook(attributes, changed=True), **common)
    return DocumentEvent(topic=topic, attributes=_document(attributes), **common)
