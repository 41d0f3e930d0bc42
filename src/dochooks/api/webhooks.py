"""Routes for webhook configuration, test sends and each webhook's delivery log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from dochooks.api.deliveries import delivery_resource
from dochooks.api.deps import JsonBody, Tenant
from dochooks.api.jsonapi import JsonApiResponse, document, page_link, resource
from dochooks.api.schemas import WebhookBody, WebhookChangesBody, WebhookTestBody
from dochooks.clock import iso
from dochooks.delivery import log, publish, recovery
from dochooks.delivery.leases import DeliveryStatus
from dochooks.errors import Conflict
from dochooks.runtime import Runtime
from dochooks.web.deps import Id, Rt
from dochooks.web.inputs import Text
from dochooks.webhooks import store
from dochooks.webhooks.config import Webhook, validated
from dochooks.webhooks.health import shown
from dochooks.webhooks.secrets import mask

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


def webhook_resource(hook: Webhook, now_ms: int, *, reveal_secret: bool = False) -> dict[str, Any]:
    return resource(
        "webhooks",
        hook.id,
        {
            "name": hook.name,
            "url": hook.url,
            "headers": {name: mask(value) for name, value in hook.headers.items()},
            "topics": list(hook.topics),
            "enabled": hook.enabled,
            "ordered": hook.ordered,
            "disabled_reason": hook.disabled_reason,
            "secret": hook.secret if reveal_secret else mask(hook.secret),
            "previous_secret_expires_at": iso(hook.previous_secret_expires_at)
            if hook.previous_secret_expires_at and hook.previous_secret_expires_at > now_ms
            else None,
            "created_at": iso(hook.created_at),
            "updated_at": iso(hook.updated_at),
            "health": shown(hook.health),
        },
        f"/v1/webhooks/{hook.id}",
    )


@router.post("", status_code=201, dependencies=[JsonBody], summary="Add a webhook")
def create(body: WebhookBody, rt: Rt, tenant: Tenant) -> JsonApiResponse:
    """Add a webhook. The response carries the `whsec_` signing secret in full; lists and
    other responses show it masked (`GET /v1/webhooks/{id}/secret` reveals it again)."""
    attrs = validated(body.data.attributes.model_dump(), policy=rt.policy)
    with rt.db.transaction() as conn:
        hook = store.create_webhook(conn, rt.cipher, tenant_id=tenant, now_ms=rt.clock.now_ms(), **attrs)  # type: ignore[arg-type]
    response = document(webhook_resource(hook, rt.clock.now_ms(), reveal_secret=True), 201)
    response.headers["Location"] = f"/v1/webhooks/{hook.id}"
    return response


@router.get("", summary="List webhooks")
def list_all(rt: Rt, tenant: Tenant) -> JsonApiResponse:
    with rt.db.read() as conn:
        hooks = store.list_webhooks(conn, rt.cipher, tenant)
    return document([webhook_resource(h, rt.clock.now_ms()) for h in hooks])


@router.get("/{webhook_id}", summary="Show a webhook")
def show(webhook_id: Id, rt: Rt, tenant: Tenant) -> JsonApiResponse:
    with rt.db.read() as conn:
        hook = store.get_webhook(conn, rt.cipher, tenant, webhook_id)
    return document(webhook_resource(hook, rt.clock.now_ms()))


@router.patch("/{webhook_id}", dependencies=[JsonBody], summary="Change a webhook")
def change(webhook_id: Id, body: WebhookChangesBody, rt: Rt, tenant: Tenant) -> JsonApiResponse:
    """Change any of name, url, headers, topics, enabled and ordered; the others stay."""
    if body.data.id is not None and body.data.id != str(webhook_id):
        raise Conflict(f"data.id {body.data.id!r} does not match the URL's webhook {webhook_id}", pointer="/data/id")
    changes = validated(body.data.attributes.model_dump(), policy=rt.policy)
    with rt.db.transaction() as conn:
        before = store.get_webhook(conn, rt.cipher, tenant, webhook_id)
        hook = store.update_webhook(conn, rt.cipher, tenant, webhook_id, changes, rt.clock.now_ms())
    if before.enabled or not hook.enabled:
        return document(webhook_resource(hook, rt.clock.now_ms()))
    return document(webhook_resource(hook, rt.clock.now_ms()), **_recovery_offer(rt, before))


def _recovery_offer(rt: Runtime, disabled: Webhook) -> dict[str, Any]:
    """For a webhook enabled again: what failed while it was down, and the request that
    recovers it (`meta.recover`), as the UI offers it; nothing if nothing failed."""
    since = recovery.failed_since(disabled)
    with rt.db.read() as conn:
        failed = recovery.count_matching(conn, webhook_id=disabled.id, since_ms=since, which=recovery.Which.FAILED)
    if not failed:
        return {}
    attributes = {"since": iso(since), "status": str(recovery.Which.FAILED)}
    offer = {
        "failed": failed,
        "since": iso(since),
        "href": f"/v1/webhooks/{disabled.id}/recover",
        "body": {"data": {"type": "recoveries", "attributes": attributes}},
    }
    return {"meta": {"recover": offer}}


@router.get("/{webhook_id}/secret", summary="Reveal the signing secret")
def reveal_secret(webhook_id: Id, rt: Rt, tenant: Tenant) -> JsonApiResponse:
    """The webhook's `whsec_` signing secret in full, which a receiver needs to verify
    signatures (the web UI's Reveal). Only the tenant's token sees it; every other
    response shows it masked."""
    with rt.db.read() as conn:
        hook = store.get_webhook(conn, rt.cipher, tenant, webhook_id)
    return document(webhook_resource(hook, rt.clock.now_ms(), reveal_secret=True))


@router.post("/{webhook_id}/secret/rotate", summary="Rotate the signing secret")
def rotate_secret(webhook_id: Id, rt: Rt, tenant: Tenant) -> JsonApiResponse:
    """Give the webhook a new `whsec_` signing secret, shown in full in this response.
    For 24 hours the old secret signs too: `webhook-signature` carries both signatures, so
    a receiver can switch secrets without rejecting a delivery."""
    with rt.db.transaction() as conn:
        hook = store.rotate_secret(conn, rt.cipher, tenant, webhook_id, rt.clock.now_ms())
    return document(webhook_resource(hook, rt.clock.now_ms(), reveal_secret=True))


@router.delete("/{webhook_id}", status_code=204, summary="Delete a webhook and its delivery log")
def delete(webhook_id: Id, rt: Rt, tenant: Tenant) -> Response:
    with rt.db.transaction() as conn:
        store.delete_webhook(conn, tenant, webhook_id)
    return Response(status_code=204)


@router.post("/{webhook_id}/test", status_code=202, dependencies=[JsonBody], summary="Send a test delivery")
def send_test(webhook_id: Id, body: WebhookTestBody, rt: Rt, tenant: Tenant) -> JsonApiResponse:
    """Queue a delivery of an example payload of the chosen topic to this webhook alone,
    through the same queue, signing and retries as every other delivery."""
    with rt.db.transaction() as conn:
        queued = publish.send_test(
            conn, tenant_id=tenant, webhook_id=webhook_id, topic=body.data.attributes.topic, now_ms=rt.clock.now_ms()
        )
    return document(delivery_resource(queued), 202)


@router.get("/{webhook_id}/deliveries", summary="The webhook's delivery log, newest first")
def deliveries(
    request: Request,
    webhook_id: Id,
    rt: Rt,
    tenant: Tenant,
    size: Annotated[int, Query(alias="page[size]", ge=1, le=100)] = 25,
    before: Annotated[
        int | None, Query(alias="page[before]", ge=1, le=2**63 - 1, description="Only deliveries older than this id.")
    ] = None,
    status: Annotated[DeliveryStatus | None, Query(alias="filter[status]")] = None,
    topic: Annotated[Text | None, Query(alias="filter[topic]")] = None,
) -> JsonApiResponse:
    with rt.db.read() as conn:
        store.get_webhook(conn, rt.cipher, tenant, webhook_id)
        found = log.list_deliveries(
            conn,
            tenant_id=tenant,
            webhook_id=webhook_id,
            limit=size,
            before_id=before,
            status=status,
            topic=topic,
        )
    links = {}
    if len(found) == size:
        links["next"] = page_link(request, size=size, before=found[-1].id)
    return document([delivery_resource(d) for d in found], links=links)
