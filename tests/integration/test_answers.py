"""What a receiver's answer means, over real HTTP on SQLite and PostgreSQL: any 2xx is a
success, 410 disables the webhook, and every other answer is retried on the published
schedule (retry n at n^5 s plus up to 30 s of jitter), with the engine's clocks moved by the
test so that no retry is waited for."""

from __future__ import annotations

import dataclasses
import functools

from dochooks.delivery import log
from dochooks.delivery.publish import publish
from dochooks.runtime import Runtime
from dochooks.tenants import NewTenant
from dochooks.webhooks import store
from tests.factories.deliveries import PAYLOAD, FakeTime, dispatch_until
from tests.factories.peers import Receiver
from tests.factories.stores import make_webhook

SUCCESSES = (200, 201, 202, 204, 299)
RETRIED = (400, 401, 404, 429, 500, 502, 503)
JITTER_MS = 30_000


def test_any_2xx_succeeds_410_disables_and_every_other_answer_is_retried_on_the_schedule(
    runtime: Runtime, acme: NewTenant, receiver: Receiver
) -> None:
    time = FakeTime(runtime.clock.now_ms())
    rt = dataclasses.replace(runtime, clock=time)
    hooks = {
        code: make_webhook(rt.db, rt.cipher, acme.tenant_id, receiver.url(f"/status/{code}/x"))
        for code in (*SUCCESSES, *RETRIED, 410)
    }
    with rt.db.transaction() as conn:
        publish(conn, tenant_id=acme.tenant_id, topic="document-received", payload=PAYLOAD, now_ms=time.now_ms())

    def deliveries() -> dict[int, log.Delivery]:
        with rt.db.read() as conn:
            return {
                code: log.list_deliveries(conn, tenant_id=acme.tenant_id, webhook_id=hook.id, limit=2)[0]
                for code, hook in hooks.items()
            }

    def answered(retry: int) -> bool:
        now = deliveries()
        return all(len(now[code].attempts) == (retry if code in RETRIED else 1) for code in hooks)

    for retry in (1, 2, 3):
        dispatch_until(rt, functools.partial(answered, retry), fake_time=time)
        now = deliveries()
        for code in RETRIED:  # retry n is due n^5 s, plus jitter in [0, 30) s, after attempt n ended
            delivery, last = now[code], now[code].attempts[-1]
            assert (delivery.status, last.response_status) == ("pending", code)
            assert delivery.next_attempt_at is not None, code
            wait = delivery.next_attempt_at - (last.started_at + last.duration_ms)
            assert retry**5 * 1000 <= wait <= retry**5 * 1000 + JITTER_MS, (code, retry, wait)
        for code in SUCCESSES:
            (attempt,) = now[code].attempts
            assert (now[code].status, attempt.response_status, attempt.error) == ("succeeded", code, None)
        (gone,) = now[410].attempts
        assert (now[410].status, gone.response_status) == ("failed", 410)
        assert [len(receiver.at(f"/status/{code}/")) for code in RETRIED] == [retry] * len(RETRIED)
        assert sum(len(receiver.at(f"/status/{code}/")) for code in (*SUCCESSES, 410)) == len(SUCCESSES) + 1
        time.advance(retry**5 + JITTER_MS / 1000)  # past the latest the next retry can be due

    with rt.db.read() as conn:
        enabled = {code: store.get_webhook(conn, rt.cipher, acme.tenant_id, hooks[code].id).enabled for code in hooks}
    assert [code for code, on in enabled.items() if not on] == [410]
