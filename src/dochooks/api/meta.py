"""Routes about the service itself: liveness and readiness, metrics, the topic catalogue, the egress ranges."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from dochooks import __version__
from dochooks.api.deps import Tenant
from dochooks.api.jsonapi import JsonApiResponse, document, error_object, errors, resource
from dochooks.db.migrate import missing
from dochooks.errors import InvalidParameter
from dochooks.metrics_http import REFUSAL, authorized
from dochooks.topics import ALL_TOPICS, OPERATIONAL, WORKFLOW
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
def topics(
    tenant: Tenant,
    kind: Annotated[
        str,
        Query(
            alias="filter[kind]",
            description="Kinds, comma-separated: `workflow` (the default), `operational`, or both.",
        ),
    ] = WORKFLOW,
) -> JsonApiResponse:
    """The topics a webhook can subscribe to, with their title in the app and their kind: the
    22 `workflow` topics of the reference (with their workflow stage); with
    `filter[kind]=operational` (or `workflow,operational`) the `operational` ones too (no
    stage), about the tenant's webhooks themselves."""
    kinds = set(kind.split(","))
    if unknown := sorted(kinds - {WORKFLOW, OPERATIONAL}):
        raise InvalidParameter(
            f"unknown kind {unknown[0]!r}: workflow, operational, or both comma-separated", parameter="filter[kind]"
        )
    return document(
        [
            resource("topics", t.value, {"title": t.title, "stage": t.stage, "kind": t.kind})
            for t in ALL_TOPICS
            if t.kind in kinds
        ]
    )


@router.get("/v1/ip-ranges", tags=["service"], summary="The addresses deliveries come from")
def ip_ranges(rt: Rt, tenant: Tenant) -> JsonApiResponse:
    """The CIDRs every delivery is sent from (`DOCHOOKS_EGRESS_CIDRS`), for receivers that
    allow only known senders. Empty when the operator has not published any."""
    return document([resource("ip-ranges", str(net), {"cidr": str(net)}) for net in rt.egress_cidrs])
