"""Bulk recovery through the API over real HTTP (the recovered deliveries sent to a real
receiver) and through `dochooks recover`, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from typing import Any

import pytest
from click.testing import CliRunner

from dochooks.cli import main
from dochooks.clock import SystemClock, iso
from dochooks.runtime import Runtime
from dochooks.tenants import NewTenant
from tests.factories.clients import Api, live_service
from tests.factories.peers import Receiver
from tests.factories.recoveries import settled_deliveries
from tests.factories.stores import make_tenant, make_webhook

# An hour ago: older failures would be pruned by the service's retention (30 days) under the test.
SINCE = SystemClock().now_ms() - 3_600_000


def recover_doc(**attributes: Any) -> dict[str, Any]:
    return {"data": {"type": "recoveries", "attributes": attributes}}


def failed_hook(rt: Runtime, tenant: NewTenant, url: str, count: int) -> int:
    hook = make_webhook(rt.db, rt.cipher, tenant.tenant_id, url)
    with rt.db.transaction() as conn:
        settled_deliveries(conn, tenant=tenant.tenant_id, webhook=hook.id, count=3, status="failed", at=SINCE - 1)
        settled_deliveries(conn, tenant=tenant.tenant_id, webhook=hook.id, count=count, status="failed", at=SINCE)
        settled_deliveries(conn, tenant=tenant.tenant_id, webhook=hook.id, count=4, status="succeeded", at=SINCE)
    return hook.id


def wait_until_done(api: Api, link: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status, body = api.call("GET", link)
        assert status == 200, body
        if body["data"]["attributes"]["status"] == "done":
            return body["data"]  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError("the recovery never finished")


def test_a_recovery_is_accepted_runs_to_done_and_its_deliveries_arrive(
    runtime: Runtime, acme: NewTenant, service: str, receiver: Receiver
) -> None:
    api = Api(service, acme.token)
    hook = failed_hook(runtime, acme, receiver.url("/ok/recovered"), 40)
    status, body = api.call("POST", f"/v1/webhooks/{hook}/recover", recover_doc(since=iso(SINCE)))
    assert status == 202, body
    job = body["data"]
    assert job["type"] == "recoveries" and job["attributes"]["delivery_status"] == "failed"
    assert job["attributes"]["total"] == 40 and job["attributes"]["since"] == iso(SINCE)
    link = f"/v1/webhooks/{hook}/recoveries/{job['id']}"
    assert job["links"]["self"] == link == api.last_headers["location"]
    done = wait_until_done(api, link)["attributes"]
    assert (done["total"], done["done"]) == (40, 40) and done["finished_at"] is not None
    assert len(receiver.wait_for("/ok/recovered", 40)) == 40
    time.sleep(0.3)
    assert len(receiver.at("/ok/recovered")) == 40  # each sent once
    status, body = api.call("POST", f"/v1/webhooks/{hook}/recover", recover_doc(since=iso(SINCE), status="all"))
    assert status == 202 and body["data"]["id"] != job["id"] and body["data"]["attributes"]["total"] == 44


def test_a_second_request_while_a_recovery_runs_joins_it(runtime: Runtime, acme: NewTenant) -> None:
    hook = failed_hook(runtime, acme, "https://example.com/hook", 5)
    with live_service(runtime.tuned(recover_batch=1, recover_pause=0.3)) as base:
        api = Api(base, acme.token)
        first = api.call("POST", f"/v1/webhooks/{hook}/recover", recover_doc(since=iso(SINCE)))
        again = api.call("POST", f"/v1/webhooks/{hook}/recover", recover_doc(since=iso(0), status="all"))
        assert (first[0], again[0]) == (202, 200)
        assert again[1]["data"]["id"] == first[1]["data"]["id"]
        assert again[1]["data"]["attributes"]["delivery_status"] == "failed"  # the job under way, as it was asked
        done = wait_until_done(api, first[1]["data"]["links"]["self"])
        assert done["attributes"]["done"] == 5


def test_another_tenants_webhook_and_recovery_are_not_found(runtime: Runtime, acme: NewTenant, service: str) -> None:
    hook = failed_hook(runtime, acme, "https://example.com/hook", 2)
    mine = Api(service, acme.token)
    job = mine.call("POST", f"/v1/webhooks/{hook}/recover", recover_doc(since=iso(SINCE)))[1]["data"]
    other = Api(service, make_tenant(runtime.db, "other").token)
    assert other.call("POST", f"/v1/webhooks/{hook}/recover", recover_doc(since=iso(SINCE)))[0] == 404
    assert other.call("GET", job["links"]["self"])[0] == 404
    assert mine.call("GET", f"/v1/webhooks/{hook}/recoveries/999999")[0] == 404


@pytest.mark.parametrize(
    ("body", "status", "pointer"),
    [
        (recover_doc(), 422, "/data/attributes/since"),
        (recover_doc(since="yesterday"), 422, "/data/attributes/since"),
        (recover_doc(since="2026-13-01T00:00:00Z"), 422, "/data/attributes/since"),
        (recover_doc(since=iso(SINCE), status="pending"), 422, "/data/attributes/status"),
        (recover_doc(since=iso(SINCE), extra=1), 422, "/data/attributes/extra"),
        ({"data": {"type": "webhooks", "attributes": {"since": iso(SINCE)}}}, 422, "/data/type"),
        (None, 415, None),  # no body: not JSON
    ],
)
def test_bad_input_gets_a_json_api_error(
    runtime: Runtime, acme: NewTenant, service: str, body: Any, status: int, pointer: str | None
) -> None:
    hook = failed_hook(runtime, acme, "https://example.com/hook", 1)
    got, answer = Api(service, acme.token).call("POST", f"/v1/webhooks/{hook}/recover", body)
    assert got == status, answer
    (error,) = answer["errors"]
    assert error["status"] == str(status)
    if pointer:
        assert error["source"]["pointer"] == pointer


def test_a_disabled_webhook_gets_409(runtime: Runtime, acme: NewTenant, service: str) -> None:
    hook = failed_hook(runtime, acme, "https://example.com/hook", 1)
    api = Api(service, acme.token)
    assert (
        api.call("PATCH", f"/v1/webhooks/{hook}", {"data": {"type": "webhooks", "attributes": {"enabled": False}}})[0]
        == 200
    )
    status, body = api.call("POST", f"/v1/webhooks/{hook}/recover", recover_doc(since=iso(SINCE)))
    assert status == 409 and "disabled" in body["errors"][0]["detail"]


def test_the_command_recovers_with_a_progress_bar(runtime: Runtime, acme: NewTenant) -> None:
    hook = failed_hook(runtime, acme, "https://example.com/hook", 25)
    url = ["--database-url", runtime.settings.database_url, "--recover-batch", "10", "--recover-pause", "0"]
    result = CliRunner().invoke(main, ["recover", "--webhook", str(hook), "--since", iso(SINCE), *url])
    assert result.exit_code == 0, result.output
    assert "recovery 1 done: 25 of webhook" in result.output and "failed deliveries" in result.output
    everything = ["recover", "--webhook", str(hook), "--since", iso(SINCE), "--status", "all", *url]
    assert "recovery 2 done: 29 of" in CliRunner().invoke(main, everything).output
    bad = CliRunner().invoke(main, ["recover", "--webhook", str(hook), "--since", "soon", *url])
    assert bad.exit_code == 2 and "ISO 8601" in bad.output
    missing = CliRunner().invoke(main, ["recover", "--webhook", "999999", "--since", iso(SINCE), *url])
    assert missing.exit_code == 1 and "no webhook 999999" in missing.output


def test_enabling_a_webhook_again_offers_to_recover_what_failed_since_it_began_failing(
    runtime: Runtime, acme: NewTenant, service: str
) -> None:
    api = Api(service, acme.token)
    hook = failed_hook(runtime, acme, "https://example.com/hook", 6)
    assert "meta" not in api.call("PATCH", f"/v1/webhooks/{hook}", {"data": {"type": "webhooks"}})[1]
    off = {"data": {"type": "webhooks", "attributes": {"enabled": False}}}
    assert api.call("PATCH", f"/v1/webhooks/{hook}", off)[0] == 200
    with runtime.db.transaction() as conn:  # as the recorder leaves a webhook whose failures began at SINCE
        conn.run("UPDATE webhooks SET failing_since = :t WHERE id = :id", {"t": SINCE, "id": hook})
    on = {"data": {"type": "webhooks", "attributes": {"enabled": True}}}
    status, body = api.call("PATCH", f"/v1/webhooks/{hook}", on)
    assert status == 200 and body["data"]["attributes"]["enabled"] is True
    offer = body["meta"]["recover"]
    assert (offer["failed"], offer["since"]) == (6, iso(SINCE))  # not the 3 that failed before
    status, job = api.call("POST", offer["href"], offer["body"])
    assert status == 202 and job["data"]["attributes"]["total"] == 6
    assert "meta" not in api.call("PATCH", f"/v1/webhooks/{hook}", on)[1]  # enabled already: nothing to offer
