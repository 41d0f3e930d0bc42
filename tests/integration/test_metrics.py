"""GET /metrics: attempts by outcome and latency, failures per webhook, the queue and leases;
served on the API's port or a port of its own, behind a token when one is set."""

from __future__ import annotations

import dataclasses
import os
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from dochooks.metrics import registry_for
from dochooks.metrics_http import start_metrics_listener
from dochooks.runtime import Runtime
from tests.factories.clients import Api, live_service, webhook_doc
from tests.factories.peers import Receiver, free_port
from tests.factories.stores import make_tenant

TEST_SEND = {"data": {"type": "webhook_tests", "attributes": {"topic": "document-received"}}}
TOKEN = "metrics-token-5f0c2a"


def get_status(url: str, token: str | None = None) -> int:
    """The status of a GET, with `Authorization: Bearer <token>` when a token is given."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def scrape(base: str, token: str | None = None) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    request = urllib.request.Request(f"{base}/metrics", headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_count_attempts_and_show_the_queue(service: str, runtime: Runtime, receiver: Receiver) -> None:
    api = Api(service, make_tenant(runtime.db).token)
    before = scrape(service)
    ok = api.call("POST", "/v1/webhooks", webhook_doc(receiver.url("/ok/m")))[1]["data"]
    bad = api.call("POST", "/v1/webhooks", webhook_doc(receiver.url("/status/500/m")))[1]["data"]
    for hook in (ok, bad):
        api.call("POST", f"/v1/webhooks/{hook['id']}/test", TEST_SEND)
    receiver.wait_for("/ok/m", 1)
    receiver.wait_for("/status/500/m", 1)
    deadline = time.monotonic() + 10
    after = scrape(service)

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    def settled() -> bool:  # counted when the answer comes, in the queue once the batch is written
        return (
            grew("dochooks_delivery_attempts_total", outcome="retrying") >= 1
            and after.get(("dochooks_queue_pending", ())) == 1
        )

    while not settled() and time.monotonic() < deadline:
        time.sleep(0.05)
        after = scrape(service)
    assert grew("dochooks_delivery_attempts_total", outcome="succeeded") >= 1
    assert grew("dochooks_delivery_attempts_total", outcome="retrying") >= 1
    assert grew("dochooks_webhook_failed_attempts_total", webhook_id=bad["id"]) == 1
    assert grew("dochooks_webhook_failed_attempts_total", webhook_id=ok["id"]) == 0
    assert grew("dochooks_attempt_duration_seconds_count") >= 2
    assert after[("dochooks_queue_pending", ())] == 1  # the failed one waits for its retry, 1 to 31 s away
    assert after[("dochooks_queue_due", ())] == 0
    assert after[("dochooks_queue_oldest_due_age_seconds", ())] == 0


def with_settings(runtime: Runtime, **settings: object) -> Runtime:
    return dataclasses.replace(runtime, settings=dataclasses.replace(runtime.settings, **settings))


def test_a_metrics_token_guards_metrics_on_the_api_port(runtime: Runtime) -> None:
    with live_service(with_settings(runtime, metrics_token=TOKEN)) as base:
        assert get_status(f"{base}/metrics") == 401
        assert get_status(f"{base}/metrics", "not-the-token") == 401
        assert get_status(f"{base}/metrics", TOKEN[:-1]) == 401
        assert get_status(f"{base}/metrics", TOKEN) == 200
        assert ("dochooks_queue_pending", ()) in scrape(base, TOKEN)


def test_with_a_metrics_port_the_api_port_has_no_metrics(runtime: Runtime) -> None:
    with live_service(with_settings(runtime, metrics_port=free_port())) as base:
        assert get_status(f"{base}/metrics") == 404
        assert get_status(f"{base}/healthz") == 200


def test_the_own_port_listener_wants_the_token_and_serves_only_metrics(runtime: Runtime) -> None:
    port = free_port()
    listener = start_metrics_listener(registry_for(runtime.db, runtime.clock), "127.0.0.1", port, TOKEN)
    try:
        base = f"http://127.0.0.1:{port}"
        assert get_status(f"{base}/metrics") == 401
        assert get_status(f"{base}/metrics", "wrong") == 401
        assert get_status(f"{base}/other", TOKEN) == 404
        assert get_status(f"{base}/metrics", TOKEN) == 200
        assert ("dochooks_queue_pending", ()) in scrape(base, TOKEN)
    finally:
        listener.close()


def test_scrapes_of_the_own_port_leave_no_connection_behind(runtime: Runtime) -> None:
    port = free_port()
    listener = start_metrics_listener(registry_for(runtime.db, runtime.clock), "127.0.0.1", port, None)
    try:
        scrape(f"http://127.0.0.1:{port}")  # the serving thread opens its connection once
        before = len(os.listdir("/proc/self/fd"))
        for _ in range(30):
            scrape(f"http://127.0.0.1:{port}")
        assert len(os.listdir("/proc/self/fd")) <= before + 2  # not one per scrape
    finally:
        listener.close()
