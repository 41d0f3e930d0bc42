"""What the API answers, as OpenAPI schemas: the JSON:API error object and each resource
type's attributes, with examples from the reference's payload. The routes build their
answers as plain dicts (`jsonapi.resource`), so these describe them for the document only."""

from __future__ import annotations

from typing import Any

from dochooks.delivery.leases import DeliveryStatus
from dochooks.delivery.recovery import JobStatus, Which
from dochooks.topics import ALL_TOPICS
from dochooks.webhooks.config import HealthState

Schema = dict[str, Any]


def _nullable(kind: str, **more: Any) -> Schema:
    return {"type": [kind, "null"], **more}


_TIME = {"type": "string", "format": "date-time"}
_TIME_OR_NULL = _nullable("string", format="date-time")

# The reference's payload ("Use webhooks", README's "What your endpoint receives").
PAYLOAD_EXAMPLE: dict[str, Any] = {
    "id": "107786",
    "type": "documents",
    "attributes": {
        "status": "pending",
        "tenant_id": 1385,
        "sla_deadline": None,
        "custom_fields": {
            "SomeCustomField": "These custom fields cannot be queried.",
            "AnotherCustomField": "If you want to query for an external ID please use external_id.",
            "YetAnotherCustomField": "external_id can be queried and used for lookups to get your data back.",
        },
        "external_id": "EX123456789",
        "created_at": "2021-05-12T10:05:46.229Z",
        "updated_at": "2021-05-12T10:05:46.302Z",
        "document_id": 107786,
    },
    "request_id": "ef083852541ff078340a516432aee2f4",
    "topic": "document-received",
}

_PAYLOAD_ATTRIBUTES: Schema = {
    "type": "object",
    "properties": {
        "status": {"type": "string", "examples": ["pending"]},
        "tenant_id": {"type": "integer"},
        "sla_deadline": _TIME_OR_NULL,
        "custom_fields": {"type": "object", "description": "As given at upload."},
        "external_id": _nullable("string", description="As given at upload; the pull API filters by it."),
        "created_at": _TIME,
        "updated_at": _TIME,
        "document_id": {"type": "integer"},
    },
}

WEBHOOK_PAYLOAD: Schema = {
    "type": "object",
    "description": "The body every delivery POSTs (Content-Type: application/json), signed with "
    "Standard Webhooks headers (webhook-id is the request_id).",
    "required": ["id", "type", "attributes", "request_id", "topic"],
    "properties": {
        "id": {"type": "string"},
        "type": {"type": "string", "examples": ["documents"]},
        "attributes": _PAYLOAD_ATTRIBUTES,
        "request_id": {"type": "string", "description": "The same for every attempt and retry of a delivery."},
        "topic": {"type": "string", "enum": [t.value for t in ALL_TOPICS]},
    },
    "examples": [PAYLOAD_EXAMPLE],
}

ERROR: Schema = {
    "type": "object",
    "description": "A JSON:API error object.",
    "required": ["status", "title", "detail"],
    "properties": {
        "status": {"type": "string", "description": "The HTTP status, as a string.", "examples": ["422"]},
        "title": {"type": "string", "examples": ["Invalid attribute"]},
        "detail": {"type": "string", "examples": ["url must be a public http(s) URL"]},
        "source": {
            "type": "object",
            "properties": {
                "pointer": {"type": "string", "examples": ["/data/attributes/url"]},
                "parameter": {"type": "string", "description": "Which query parameter."},
            },
        },
        "meta": {
            "type": "object",
            "description": "410 of the event feed: `resume_from`, the cursor to go on from.",
            "properties": {"resume_from": {"type": "string"}},
        },
        "links": {"type": "object", "properties": {"resume": {"type": "string"}}},
    },
}

ERRORS: Schema = {
    "type": "object",
    "description": "Every 4xx and 5xx answer of the API: one or more error objects.",
    "required": ["errors"],
    "properties": {"errors": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/Error"}}},
}

_DOCUMENT_EXAMPLE = {
    **PAYLOAD_EXAMPLE["attributes"],
    "name": "invoice-0042.pdf",
    "workflow_step": "finished",
    "document_type": "invoice",
    "pending_validation": None,
    "file_type": "pdf",
    "page_count": 1,
    "extracted_fields": {"total": "118.00"},
    "error": None,
}

_EVENT_EXAMPLE = {
    "topic": "document-received",
    "created_at": PAYLOAD_EXAMPLE["attributes"]["created_at"],
    "test": False,
    "document_id": PAYLOAD_EXAMPLE["id"],
    "payload": {key: value for key, value in PAYLOAD_EXAMPLE.items() if key != "request_id"},
    "request_ids": ["6f1c2a9e0d3b4c5a8e7f9a0b1c2d3e4f"],
}

_HEALTH: Schema = {
    "type": "object",
    "properties": {
        "state": {"type": "string", "enum": [str(s) for s in HealthState]},
        "failing_since": _TIME_OR_NULL,
        "consecutive_failures": {"type": "integer"},
        "last_success_at": _TIME_OR_NULL,
        "last_error": _nullable("string"),
        "disabled_at": _TIME_OR_NULL,
        "disabled_reason": _nullable("string"),
    },
}

# Each resource type's attributes; extra attributes may come in later versions.
ATTRIBUTES: dict[str, Schema] = {
    "documents": {
        **_PAYLOAD_ATTRIBUTES,
        "properties": {
            **_PAYLOAD_ATTRIBUTES["properties"],
            "name": _nullable("string"),
            "workflow_step": {"type": "string"},
            "document_type": _nullable("string"),
            "pending_validation": _nullable("string"),
            "file_type": _nullable("string"),
            "page_count": _nullable("integer"),
            "extracted_fields": {"type": ["object", "null"]},
            "error": _nullable("string"),
        },
        "examples": [_DOCUMENT_EXAMPLE],
    },
    "webhooks": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "url": {"type": "string"},
            "headers": {"type": "object", "description": "Values masked.", "additionalProperties": {"type": "string"}},
            "topics": {"type": "array", "items": {"type": "string"}},
            "enabled": {"type": "boolean"},
            "disabled_reason": _nullable("string"),
            "secret": {"type": "string", "description": "whsec_...; in full only where the operation says so."},
            "previous_secret_expires_at": _TIME_OR_NULL,
            "created_at": _TIME,
            "updated_at": _TIME,
            "health": _HEALTH,
        },
    },
    "deliveries": {
        "type": "object",
        "properties": {
            "webhook_id": {"type": "string"},
            "topic": {"type": "string"},
            "status": {"type": "string", "enum": [str(s) for s in DeliveryStatus]},
            "request_id": {"type": "string"},
            "document_id": _nullable("integer"),
            "payload": {"$ref": "#/components/schemas/WebhookPayload"},
            "created_at": _TIME,
            "updated_at": _TIME,
            "next_attempt_at": _TIME_OR_NULL,
            "attempts": {"type": "array", "items": {"type": "object"}},
        },
    },
    "events": {
        "type": "object",
        "properties": {
            "topic": {"type": "string"},
            "created_at": _TIME,
            "test": {"type": "boolean", "description": "A test send (POST /v1/webhooks/{id}/test)."},
            "document_id": _nullable("string"),
            "payload": {"type": "object", "description": "The body the event's deliveries carry, but for request_id."},
            "request_ids": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Each delivery's request_id (its webhook-id header).",
            },
        },
        "examples": [_EVENT_EXAMPLE],
    },
    "topics": {
        "type": "object",
        "properties": {
            "title": {"type": "string", "examples": ["DOCUMENT RECEIVED"]},
            "stage": _nullable("string"),
            "kind": {"type": "string", "enum": ["workflow", "operational"]},
        },
    },
    "ip-ranges": {"type": "object", "properties": {"cidr": {"type": "string", "examples": ["34.65.0.0/16"]}}},
    "recoveries": {
        "type": "object",
        "properties": {
            "webhook_id": {"type": "string"},
            "status": {"type": "string", "enum": [str(s) for s in JobStatus]},
            "delivery_status": {"type": "string", "enum": [str(s) for s in Which]},
            "since": _TIME,
            "total": _nullable("integer"),
            "done": {"type": "integer"},
            "created_at": _TIME,
            "started_at": _TIME_OR_NULL,
            "finished_at": _TIME_OR_NULL,
        },
    },
    "workflows": {"type": "object", "description": "As PUT /v1/workflow takes them, with their current values."},
}


NAMES = {
    "documents": "Document",
    "webhooks": "Webhook",
    "deliveries": "Delivery",
    "events": "Event",
    "topics": "Topic",
    "ip-ranges": "IpRange",
    "recoveries": "Recovery",
    "workflows": "Workflow",
}  # each resource type's schema in components


def resource_schema(kind: str) -> Schema:
    return {
        "type": "object",
        "required": ["type", "id", "attributes"],
        "properties": {
            "type": {"type": "string", "enum": [kind]},
            "id": {"type": "string"},
            "attributes": ATTRIBUTES[kind],
            "links": {"type": "object", "properties": {"self": {"type": "string"}}},
        },
    }


def document_schema(kind: str, *, many: bool) -> Schema:
    """A JSON:API document whose `data` is one resource of the type, or a list of them."""
    one = {"$ref": f"#/components/schemas/{NAMES[kind]}"}
    return {
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": {"type": "array", "items": one} if many else one,
            "links": {"type": "object", "properties": {"next": {"type": "string"}, "prev": {"type": "string"}}},
            "meta": {"type": "object", "description": "The event feed's `cursor`: where the next read goes on from."},
        },
    }
