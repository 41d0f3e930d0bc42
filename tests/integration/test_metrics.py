"""GET /metrics: attempts by outcome and latency, failures per webhook, the queue and leases."""

from __future__ import annotations

import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from dochooks.runtime import Runtime
from tests.factories import Api, Receiver, make_tenant, webhook_doc

TEST_SEND = {"data": {"type": "webhook_tests", "attributes": {"topic": "document-received"}}}


def scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
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
