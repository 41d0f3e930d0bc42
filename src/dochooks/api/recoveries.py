"""Bulk recovery of a webhook's deliveries: start (or join) a job, and read its progress."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from dochooks.api.deps import JsonBody, Tenant
from dochooks.api.jsonapi import JsonApiResponse, document, resource
from dochooks.api.schemas import RecoveryBody
from dochooks.clock import iso, parse_iso
from dochooks.delivery import recovery
from dochooks.errors import InvalidInput
from dochooks.web.deps import Id, Rt

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


def recovery_link(job: recovery.Recovery) -> str:
    return f"/v1/webhooks/{job.webhook_id}/recoveries/{job.id}"


def recovery_resource(job: recovery.Recovery) -> dict[str, Any]:
    return resource(
        "recoveries",
        job.id,
        {
            "webhook_id": str(job.webhook_id),
            "status": job.status,
            "delivery_status": job.which,
            "since": iso(job.since),
            "total": job.total,
            "done": job.recovered,
            "created_at": iso(job.created_at),
            "started_at": iso(job.started_at),
            "finished_at": iso(job.finished_at),
        },
        recovery_link(job),
    )


def since_ms(text: str) -> int:
    """A request's `since`, in ms; a 422 naming the attribute if it is not an ISO 8601 time."""
    try:
        return parse_iso(text)
    except (ValueError, OverflowError) as exc:
        raise InvalidInput("since must be an ISO 8601 time, e.g. 2026-01-31T12:00:00Z", attribute="since") from exc


@router.post("/{webhook_id}/recover", status_code=202, dependencies=[JsonBody], summary="Recover deliveries")
def recover(webhook_id: Id, body: RecoveryBody, rt: Rt, tenant: Tenant) -> JsonApiResponse:
    """Make the webhook's deliveries of a status (`failed` by default; `succeeded`, `all`) last
    changed since a time due again, in the background: 202 with the new job. While a job of
    this webhook is not done, this answers 200 with that job instead (whatever it was asked
    for): calling again joins it. Read its progress at `links.self` (also `Location`); 409 if
    the webhook is disabled."""
    attrs = body.data.attributes
    since = since_ms(attrs.since)
    job, new = recovery.start(
        rt.db,
        tenant_id=tenant,
        webhook_id=webhook_id,
        since_ms=since,
        which=recovery.Which(attrs.status),
        now_ms=rt.clock.now_ms(),
    )
    response = document(recovery_resource(job), 202 if new else 200)
    response.headers["Location"] = recovery_link(job)
    return response


@router.get("/{webhook_id}/recoveries/{recovery_id}", summary="A recovery's progress")
def show(webhook_id: Id, recovery_id: Id, rt: Rt, tenant: Tenant) -> JsonApiResponse:
    with rt.db.read() as conn:
        job = recovery.get(conn, tenant_id=tenant, webhook_id=webhook_id, recovery_id=recovery_id)
    return document(recovery_resource(job))
