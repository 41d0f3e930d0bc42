"""Development → Webhooks: the list, the form to add or change one, deleting, and each
webhook's delivery log with resend and test sends."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from dochooks.delivery import log, publish
from dochooks.delivery.leases import DeliveryStatus
from dochooks.errors import Conflict, InvalidInput
from dochooks.runtime import Runtime
from dochooks.topics import is_topic
from dochooks.ui.auth import Form, SignedIn, redirect
from dochooks.ui.flash import flash_of, flash_redirect
from dochooks.ui.forms import WebhookForm, sentence, text, whole_number
from dochooks.ui.recovery import recovery_context, reenabled_link
from dochooks.ui.render import page
from dochooks.ui.sessions import Session
from dochooks.web.deps import Id, Rt
from dochooks.webhooks import store
from dochooks.webhooks.config import Webhook
from dochooks.webhooks.secrets import mask

router = APIRouter(prefix="/development", include_in_schema=False)
LOG_PAGE = 25
DELIVERY_STATUSES = tuple(DeliveryStatus)


def _shown(hook: Webhook) -> WebhookForm:
    """The form for a stored webhook: header values masked, never in full."""
    return WebhookForm(
        name=hook.name,
        url=hook.url,
        headers=[(name, mask(value)) for name, value in hook.headers.items()],
        topics=list(hook.topics),
        enabled=hook.enabled,
        ordered=hook.ordered,
    )


@router.get("/webhooks")
def webhooks(request: Request, rt: Rt, session: SignedIn) -> Response:
    with rt.db.read() as conn:
        hooks = store.list_webhooks(conn, rt.cipher, session.tenant_id)
        sums = log.recent_deliveries(conn, [hook.id for hook in hooks])
    return page(
        request,
        "webhooks/list.html",
        hooks=hooks,
        sums=sums,
        recent=log.RECENT,
        notice=request.query_params.get("notice"),
    )


def _refused(rt: Runtime, session: Session, form_page: str, given: WebhookForm) -> Response:
    """Back to the form, which shows the errors and what was typed (a flash: reloads safely)."""
    return flash_redirect(rt, session, form_page, {"errors": given.errors}, given.typed())


@router.get("/webhooks/new")
def new_webhook(request: Request, rt: Rt, session: SignedIn) -> Response:
    flash = flash_of(request, rt, session)
    return page(request, "webhooks/form.html", hook=None, form=WebhookForm.from_flash(flash.data if flash else {}))


@router.post("/webhooks")
def create_webhook(request: Request, rt: Rt, session: SignedIn, form: Form) -> Response:
    given = WebhookForm.read(form)
    attrs = given.checked(rt.policy)  # resolves the URL's host: a sync route, off the event loop
    if attrs is None:
        return _refused(rt, session, "/development/webhooks/new", given)
    with rt.db.transaction() as conn:
        hook = store.create_webhook(conn, rt.cipher, tenant_id=session.tenant_id, now_ms=rt.clock.now_ms(), **attrs)
    return redirect(f"/development/webhooks/{hook.id}?notice=created")


@router.get("/webhooks/{webhook_id}/edit")
def edit_webhook(request: Request, rt: Rt, webhook_id: Id, session: SignedIn) -> Response:
    with rt.db.read() as conn:
        hook = store.get_webhook(conn, rt.cipher, session.tenant_id, webhook_id)
    flash = flash_of(request, rt, session)
    form = WebhookForm.from_flash(flash.data, base=_shown(hook)) if flash else _shown(hook)  # as posted, or stored
    return page(request, "webhooks/form.html", hook=hook, form=form)


@router.post("/webhooks/{webhook_id}/edit")
def change_webhook(request: Request, rt: Rt, webhook_id: Id, session: SignedIn, form: Form) -> Response:
    with rt.db.read() as conn:
        hook = store.get_webhook(conn, rt.cipher, session.tenant_id, webhook_id)
    given = WebhookForm.read(form)
    changes = given.checked(rt.policy)
    form_page = f"/development/webhooks/{webhook_id}/edit"
    if changes is None:
        return _refused(rt, session, form_page, given)
    if changes["enabled"] == hook.enabled:
        del changes["enabled"]  # left as it was: keep the reason dochooks disabled it for, if any
    try:
        with rt.db.transaction() as conn:  # a value shown masked and sent back unchanged keeps the stored one
            store.update_webhook(conn, rt.cipher, session.tenant_id, webhook_id, changes, rt.clock.now_ms())
    except InvalidInput as exc:  # a masked value under a renamed header: the form says which
        given.errors["headers"] = sentence(exc.detail)
        return _refused(rt, session, form_page, given)
    if not hook.enabled and changes.get("enabled"):
        return redirect(reenabled_link(hook))  # offers to recover what failed while it was off
    return redirect(f"/development/webhooks/{webhook_id}?notice=saved")


@router.get("/webhooks/{webhook_id}/delete")
def confirm_delete(request: Request, rt: Rt, webhook_id: Id, session: SignedIn) -> Response:
    with rt.db.read() as conn:
        hook = store.get_webhook(conn, rt.cipher, session.tenant_id, webhook_id)
    return page(request, "webhooks/delete.html", hook=hook)


@router.post("/webhooks/{webhook_id}/delete")
def delete_webhook(request: Request, rt: Rt, webhook_id: Id, session: SignedIn, form: Form) -> Response:
    with rt.db.transaction() as conn:
        store.delete_webhook(conn, session.tenant_id, webhook_id)
    return redirect("/development/webhooks?notice=deleted")


def _log_filters(request: Request) -> tuple[DeliveryStatus | None, str | None, int | None, int | None]:
    """Status, topic, event (a document timeline's link) and page position from the query;
    values that are not ours are ignored."""
    status = request.query_params.get("status") or None
    topic = request.query_params.get("topic") or None
    event = request.query_params.get("event") or ""
    before = request.query_params.get("before") or ""
    return (
        DeliveryStatus(status) if status in DELIVERY_STATUSES else None,
        topic if topic is not None and is_topic(topic) else None,
        whole_number(event, at_most=2**63 - 1) or None,
        whole_number(before, at_most=2**63 - 1) or None,
    )


def _log_context(request: Request, rt: Runtime, session: Session, webhook_id: int) -> dict[str, Any]:
    status, topic, event, before = _log_filters(request)
    with rt.db.read() as conn:
        hook = store.get_webhook(conn, rt.cipher, session.tenant_id, webhook_id)
        deliveries = log.list_deliveries(
            conn,
            tenant_id=session.tenant_id,
            webhook_id=webhook_id,
            limit=LOG_PAGE,
            before_id=before,
            status=status,
            topic=topic,
            event_id=event,
        )
    return {
        "hook": hook,
        "deliveries": deliveries,
        "status": status,
        "topic": topic,
        "event": event,
        "before": before,
        "older": deliveries[-1].id if len(deliveries) == LOG_PAGE else None,
        "now": rt.clock.now_ms(),
        "statuses": DELIVERY_STATUSES,
    }


def _page_context(request: Request, rt: Runtime, session: Session, webhook_id: int) -> dict[str, Any]:
    """The log page's: the log's, and its Recover card's (ui/recovery.py)."""
    context = _log_context(request, rt, session, webhook_id)
    return {**context, **recovery_context(request, rt, context["hook"])}


def _own_webhook(rt: Runtime, session: Session, webhook_id: int) -> None:
    """404 for a webhook that is not the tenant's, before a flash is kept for its page."""
    with rt.db.read() as conn:
        store.get_webhook(conn, rt.cipher, session.tenant_id, webhook_id)


@router.get("/webhooks/{webhook_id}")
def delivery_log(request: Request, rt: Rt, webhook_id: Id, session: SignedIn) -> Response:
    context = _page_context(request, rt, session, webhook_id)
    flash = flash_of(request, rt, session)
    shown = flash.data if flash else {}
    reveal, spent = shown.get("reveal") is True, flash is not None and flash.spent
    return page(
        request,
        "webhooks/log.html",
        notice=request.query_params.get("notice"),
        test_topic=shown.get("test_topic", request.query_params.get("test")),
        test_error=shown.get("test_error"),
        revealed=context["hook"].secret if reveal and not spent else None,
        reveal_spent=reveal and spent,
        **context,
    )


@router.post("/webhooks/{webhook_id}/secret")
def reveal_secret(request: Request, rt: Rt, webhook_id: Id, session: SignedIn, form: Form) -> Response:
    """The log page shows the signing secret in full once: receivers need it to verify
    signatures. The flash holds a grant, never the secret, and the address only its nonce.
    Shown to one GET only, as a security-minded user expects of a secret: it answers the
    deliberate, CSRF-checked Reveal and nothing else, while a reload, the back button, a
    restored tab or a history entry replays a GET nobody meant as a reveal; the page says
    so, and Reveal shows it anew."""
    _own_webhook(rt, session, webhook_id)
    return flash_redirect(rt, session, f"/development/webhooks/{webhook_id}", {"reveal": True}, once=True)


@router.post("/webhooks/{webhook_id}/secret/rotate")
def rotate_secret(request: Request, rt: Rt, webhook_id: Id, session: SignedIn, form: Form) -> Response:
    """A new signing secret; the old one signs too for a day (`store.rotate_secret`). Back to
    the page by a redirect, so a reload does not rotate again."""
    with rt.db.transaction() as conn:
        store.rotate_secret(conn, rt.cipher, session.tenant_id, webhook_id, rt.clock.now_ms())
    return redirect(f"/development/webhooks/{webhook_id}?notice=secret-rotated")


@router.get("/webhooks/{webhook_id}/deliveries")
def delivery_log_fragment(request: Request, rt: Rt, webhook_id: Id, session: SignedIn) -> Response:
    """The log alone, for the page's live refresh."""
    return page(request, "partials/deliveries.html", **_log_context(request, rt, session, webhook_id))


@router.post("/webhooks/{webhook_id}/test")
def send_test(request: Request, rt: Rt, webhook_id: Id, session: SignedIn, form: Form) -> Response:
    topic = text(form, "topic")
    try:
        with rt.db.transaction() as conn:
            publish.send_test(
                conn, tenant_id=session.tenant_id, webhook_id=webhook_id, topic=topic, now_ms=rt.clock.now_ms()
            )
    except InvalidInput:
        _own_webhook(rt, session, webhook_id)
        log_page = f"/development/webhooks/{webhook_id}"
        return flash_redirect(rt, session, log_page, {"test_error": "Choose a topic to send."}, {"test_topic": topic})
    return redirect(f"/development/webhooks/{webhook_id}?notice=test-queued&test={topic}")


@router.post("/deliveries/{delivery_id}/resend")
def resend(request: Request, rt: Rt, delivery_id: Id, session: SignedIn, form: Form) -> Response:
    try:
        with rt.db.transaction() as conn:
            found = log.retry_delivery(
                conn, tenant_id=session.tenant_id, delivery_id=delivery_id, now_ms=rt.clock.now_ms()
            )
    except Conflict:
        with rt.db.read() as conn:
            found = log.get_delivery(conn, tenant_id=session.tenant_id, delivery_id=delivery_id)
        return redirect(f"/development/webhooks/{found.webhook_id}?notice=in-flight")
    return redirect(f"/development/webhooks/{found.webhook_id}?notice=resent")
