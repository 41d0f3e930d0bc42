"""Routes for one delivery: inspect it, or redeliver it by hand."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from dochooks.api.deps import Tenant
from dochooks.api.jsonapi import JsonApiResponse, document, resource
from dochooks.clock import iso
from dochooks.delivery import log
from dochooks.web.deps import Id, Rt

router = APIRouter(prefix="/v1/deliveries", tags=["deliveries"])


def delivery_resource(d: log.Delivery) -> dict[str, Any]:
    return resource(
        "deliveries",
        d.id,
        {
            "webhook_id": str(d.webhook_id),
            "topic": d.topic,
            "status": d.status,
            "request_id": d.request_id,
            "document_id": d.document_id,
            "payload": d.payload,
            "created_at": iso(d.created_at),
            "updated_at": iso(d.updated_at),
            "next_attempt_at": iso(d.next_attempt_at),
            "attempts": [
                {
                    "number": a.number,
                    "started_at": iso(a.started_at),
                    "duration_ms": a.duration_ms,
                    "request_headers": a.request_headers,
                    "response_status": a.response_status,
                    "response_body": a.response_body,
                    "error": a.error,
                }
                for a in d.attempts
            ],
        },
        f"/v1/deliveries/{d.id}",
    )


@router.get("/{delivery_id}", summary="Show a delivery with its attempts")
def show(delivery_id: Id, rt: Rt, tenant: Tenant) -> JsonApiResponse:
    with rt.db.read() as conn:
        found = log.get_delivery(conn, tenant_id=tenant, delivery_id=delivery_id)
    return document(delivery_resource(found))


@router.post("/{delivery_id}/retry", status_code=202, summary="Redeliver now")
def retry(delivery_id: Id, rt: Rt, tenant: Tenant) -> JsonApiResponse:
    """Queue the delivery again now, with the same request_id, whatever its status."""
    with rt.db.transaction() as conn:
        found = log.retry_delivery(conn, tenant_id=tenant, delivery_id=delivery_id, now_ms=rt.clock.now_ms())
    return document(delivery_resource(found), 202)
