"""Routes about the service itself: liveness and readiness, metrics, the topic catalogue, the egress ranges."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from dochooks import __version__
from dochooks.api.deps import Tenant
from dochooks.api.jsonapi import JsonApiResponse, document, error_object, errors, resource
from dochooks.db.migrate import missing
from dochooks.metrics_http import REFUSAL, authorized
from dochooks.topics import ALL_TOPICS
from dochooks.web.deps import Rt

router = APIRouter()
# Left off the app when /metrics has a port of its own (DOCHOOKS_METRICS_PORT).
metrics_router = APIRouter()


@router.get("/healthz", tags=["service"], summary="Alive")
def healthz() -> JsonApiResponse:
    """200 while the process answers: a liveness probe. Whether it can do its work is `/readyz`."""
    return JsonApiResponse({"status": "ok", "version": __version__})


@router.get("/readyz", tags=["service"], summary="Ready to serve")
def readyz(request: Request, rt: Rt) -> JsonApiResponse:
    """200 when the database answers, has every migration this version ships, and the
    background work (dispatcher, workflow runner) runs where this process runs it; 503 with
    each reason otherwise: a readiness probe for a load balancer or an orchestrator."""
    reasons = []
    background = request.app.state.background
    if background is not None and background.done():
        reasons.append("the background work (dispatcher, workflow runner) has stopped; see the log")
    try:
        with rt.db.read() as conn:
            lacking = missing(conn)
    except Exception:
        reasons.append("the database does not answer, or holds no dochooks schema")
    else:
        if lacking:
            names = ", ".join(f"{m.version:04d}_{m.name}" for m in lacking)
            reasons.append(f"the database lacks migrations {names}: run `dochooks migrate`")
    if reasons:
        return errors(503, [error_object(503, "Not ready", reason) for reason in reasons])
    return JsonApiResponse({"status": "ready", "version": __version__})


@metrics_router.get("/metrics", include_in_schema=False)
def metrics(request: Request, rt: Rt) -> Response:
    """Prometheus metrics: attempts by outcome, attempt latency, failures per webhook, the
    queue's depth and oldest due delivery, worker leases. For the operator only: behind
    DOCHOOKS_METRICS_TOKEN when it is set (401 without it)."""
    if not authorized(request.headers.get("authorization"), rt.settings.metrics_token):
        return PlainTextResponse(REFUSAL, status_code=401, headers={"WWW-Authenticate": "Bearer"})
    return Response(generate_latest(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/topics", tags=["topics"], summary="The webhook topics")
def topics(tenant: Tenant) -> JsonApiResponse:
    """Every topic a webhook can subscribe to, with its title in the app and its kind: the 22
    `workflow` topics (with their workflow stage), then the `operational` ones (no stage),
    about the tenant's webhooks themselves."""
    return document(
        [resource("topics", t.value, {"title": t.title, "stage": t.stage, "kind": t.kind}) for t in ALL_TOPICS]
    )


@router.get("/v1/ip-ranges", tags=["service"], summary="The addresses deliveries come from")
def ip_ranges(rt: Rt, tenant: Tenant) -> JsonApiResponse:
    """The CIDRs every delivery is sent from (`DOCHOOKS_EGRESS_CIDRS`), for receivers that
    allow only known senders. Empty when the operator has not published any."""
    return document([resource("ip-ranges", str(net), {"cidr": str(net)}) for net in rt.egress_cidrs])
