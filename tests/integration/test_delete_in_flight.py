"""Deleting (or disabling) a webhook while its deliveries are in flight, through the API of
the running service, on SQLite and PostgreSQL: the receiver holds the first requests open
across the change, and the rest of the claimed deliveries wait in the dispatcher for a lane."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from dochooks.delivery.publish import publish
from dochooks.runtime import Runtime
from dochooks.tenants import NewTenant
from tests.factories.clients import Api, WebClient, live_service, webhook_doc
from tests.factories.deliveries import PAYLOAD
from tests.factories.peers import Receiver, free_port, running_receiver

LANES = 4  # connections to the receiver's host: the rest of the claimed deliveries wait for one
QUEUED = 20


@dataclass
class HoldingReceiver(Receiver):
    """A receiver whose /hold/* requests are answered only once `release` is set."""

    release: threading.Event = field(default_factory=threading.Event)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        response = await super().handle(request)  # recorded as it arrives
        while request.path.startswith("/hold/") and not self.release.is_set():
            await asyncio.sleep(0.01)
        return response


@pytest.fixture
def holding() -> Iterator[HoldingReceiver]:
    receiver = HoldingReceiver(port=free_port())
    with running_receiver(receiver=receiver):
        yield receiver
        receiver.release.set()


@dataclass
class Scene:
    """The running service with a webhook whose first deliveries the receiver holds open,
    and a canary webhook on the same host, queued behind them."""

    api: Api
    web_ui: WebClient
    holding: HoldingReceiver
    hook: str
    canary: str

    def finish(self, runtime: Runtime, tenant_id: int) -> None:
        """Let the held requests go, and return once the canary, which the dispatcher takes
        after everything held for the webhook, has been sent and recorded."""
        self.holding.release.set()
        with runtime.db.transaction() as conn:
            publish(conn, tenant_id=tenant_id, topic="extraction-done", payload=PAYLOAD, now_ms=0)
        self.holding.wait_for("/ok/canary", 1)
        canary_log = f"/v1/webhooks/{self.canary}/deliveries"
        deadline = time.monotonic() + 15
        while self.api.call("GET", canary_log)[1]["data"][0]["attributes"]["status"] != "succeeded":
            assert time.monotonic() < deadline, "the canary's delivery was not recorded"
            time.sleep(0.02)


@contextmanager
def held_deliveries(runtime: Runtime, acme: NewTenant, holding: HoldingReceiver) -> Iterator[Scene]:
    with live_service(runtime.tuned(max_per_host=LANES)) as base:
        api, web_ui = Api(base, acme.token), WebClient(base)
        web_ui.sign_in(acme.token)
        status, hook = api.call("POST", "/v1/webhooks", webhook_doc(holding.url("/hold/hook")))
        assert status == 201, hook
        status, canary = api.call("POST", "/v1/webhooks", webhook_doc(holding.url("/ok/canary"), ["extraction-done"]))
        assert status == 201, canary
        with runtime.db.transaction() as conn:
            for _ in range(QUEUED):
                publish(conn, tenant_id=acme.tenant_id, topic="document-received", payload=PAYLOAD, now_ms=0)
        holding.wait_for("/hold/", LANES)
        yield Scene(api, web_ui, holding, hook["data"]["id"], canary["data"]["id"])


def problems_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]


def test_deleting_a_webhook_mid_flight_sends_nothing_more_and_breaks_nothing(
    runtime: Runtime, acme: NewTenant, holding: HoldingReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with held_deliveries(runtime, acme, holding) as scene:
        api = scene.api
        _, log = api.call("GET", f"/v1/webhooks/{scene.hook}/deliveries?page[size]=100")
        deliveries = [d["id"] for d in log["data"]]
        assert len(deliveries) == QUEUED

        assert api.call("DELETE", f"/v1/webhooks/{scene.hook}")[0] == 204
        sent_before_delete = len(holding.at("/hold/"))
        assert api.call("GET", f"/v1/deliveries/{deliveries[0]}")[0] == 404  # while its request is held
        scene.finish(runtime, acme.tenant_id)

        assert sent_before_delete == LANES
        assert len(holding.at("/hold/")) == sent_before_delete  # nothing sent after the delete committed
        assert api.call("GET", "/readyz")[0] == 200  # the dispatcher still runs
        assert api.call("GET", f"/v1/webhooks/{scene.hook}/deliveries")[0] == 404
        for delivery in deliveries:
            assert api.call("GET", f"/v1/deliveries/{delivery}")[0] == 404
        status, listed = api.call("GET", "/v1/webhooks")
        assert status == 200 and [h["id"] for h in listed["data"]] == [scene.canary]
        assert scene.web_ui.get("/development/webhooks").status == 200
        assert scene.web_ui.get(f"/development/webhooks/{scene.hook}").status == 404
        assert scene.web_ui.get(f"/development/webhooks/{scene.canary}").status == 200
    with runtime.db.read() as conn:
        assert conn.one("SELECT COUNT(*) AS n FROM attempts")["n"] == 1  # type: ignore[index]  # the canary's
    assert problems_logged(caplog) == []


def test_disabling_a_webhook_mid_flight_fails_its_waiting_deliveries_unsent(
    runtime: Runtime, acme: NewTenant, holding: HoldingReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with held_deliveries(runtime, acme, holding) as scene:
        disabled = {"data": {"type": "webhooks", "attributes": {"enabled": False}}}
        assert scene.api.call("PATCH", f"/v1/webhooks/{scene.hook}", disabled)[0] == 200
        scene.finish(runtime, acme.tenant_id)

        assert len(holding.at("/hold/")) == LANES  # the held requests, and nothing after the change
        _, log = scene.api.call("GET", f"/v1/webhooks/{scene.hook}/deliveries?page[size]=100")
        outcomes = sorted(
            (d["attributes"]["status"], d["attributes"]["attempts"][0]["error"])
            for d in log["data"]
            if d["attributes"]["attempts"]
        )
        assert (
            outcomes == [("failed", "webhook is disabled; not sent")] * (QUEUED - LANES) + [("succeeded", None)] * LANES
        )
        assert scene.web_ui.get(f"/development/webhooks/{scene.hook}").status == 200
    assert problems_logged(caplog) == []
