"""Development → Webhooks → a delivery log's Recover: start (or join) a bulk recovery, its
progress on the page (refreshed live), and, after a disabled webhook is enabled again, the
offer to recover what failed while it was off."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from dochooks.clock import parse_iso
from dochooks.delivery import recovery
from dochooks.errors import Conflict
from dochooks.retention import DAY_MS
from dochooks.runtime import Runtime
from dochooks.ui.auth import Form, SignedIn, redirect
from dochooks.ui.forms import text, whole_number
from dochooks.ui.render import page
from dochooks.web.deps import Id, Rt
from dochooks.webhooks.config import Webhook

router = APIRouter(prefix="/development", include_in_schema=False)
WHICH = tuple(str(w) for w in recovery.Which)


def reenabled_link(hook: Webhook) -> str:
    """Where the form of a webhook just enabled again goes (`hook` as it was, disabled): its
    log, offering to recover what failed since it began failing, or else since it was disabled."""
    return f"/development/webhooks/{hook.id}?notice=saved&recover_since={recovery.failed_since(hook)}"


def recovery_context(request: Request, rt: Runtime, hook: Webhook) -> dict[str, Any]:
    """What the delivery log shows of recovery: the latest job, the default time of the form
    (a day ago), and the offer after a re-enable (`?recover_since=`: failed deliveries since)."""
    since = whole_number(request.query_params.get("recover_since") or "", at_most=2**63 - 1)
    with rt.db.read() as conn:
        latest = recovery.latest(conn, tenant_id=hook.tenant_id, webhook_id=hook.id)
        offer = None
        if since is not None and hook.enabled:
            count = recovery.count_matching(conn, webhook_id=hook.id, since_ms=since, which=recovery.Which.FAILED)
            offer = (count, since) if count else None
    day_ago = time.strftime("%Y-%m-%dT%H:%M", time.gmtime((rt.clock.now_ms() - DAY_MS) / 1000))
    return {"recovery": latest, "recover_offer": offer, "recover_default": day_ago, "recover_choices": WHICH}


@router.post("/webhooks/{webhook_id}/recover")
def recover(request: Request, rt: Rt, webhook_id: Id, session: SignedIn, form: Form) -> Response:
    which = text(form, "status") or str(recovery.Which.FAILED)
    back = f"/development/webhooks/{webhook_id}"
    try:
        since = parse_iso(text(form, "since"))
    except (ValueError, OverflowError):
        return redirect(f"{back}?notice=recovery-invalid")
    if which not in WHICH:
        return redirect(f"{back}?notice=recovery-invalid")
    try:
        _, new = recovery.start(
            rt.db,
            tenant_id=session.tenant_id,
            webhook_id=webhook_id,
            since_ms=since,
            which=recovery.Which(which),
            now_ms=rt.clock.now_ms(),
        )
    except Conflict:
        return redirect(f"{back}?notice=recovery-disabled")
    return redirect(f"{back}?notice={'recovery-started' if new else 'recovery-joined'}")


@router.get("/webhooks/{webhook_id}/recovery")
def progress(request: Request, rt: Rt, webhook_id: Id, session: SignedIn) -> Response:
    """The latest recovery's progress alone, for the page's live refresh."""
    with rt.db.read() as conn:
        latest = recovery.latest(conn, tenant_id=session.tenant_id, webhook_id=webhook_id)
    return page(request, "partials/recovery_progress.html", recovery=latest)
