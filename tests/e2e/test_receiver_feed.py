"""The receiver module's feed client (`dochooks_receiver.Feed`) against a live service, on
both stores: every event of its tenant once and in order across pages, resuming from any
cursor it yields skips nothing, filters, another tenant's cursor, and retention's 410."""

from __future__ import annotations

import pytest
from dochooks_receiver import DocumentEvent, Feed, FeedError, FeedEvent, FeedGone

from dochooks.events import horizon
from dochooks.runtime import Runtime
from dochooks.tenants import NewTenant
from tests.factories.commands import wait_until
from tests.factories.stores import make_tenant
from tests.integration.test_event_feed import publish_events


def test_every_event_once_in_order_and_any_yielded_cursor_resumes_without_a_gap(
    runtime: Runtime, service: str, acme: NewTenant
) -> None:
    other = make_tenant(runtime.db, "globex")
    ids = publish_events(runtime, acme.tenant_id, 120)
    publish_events(runtime, other.tenant_id, 30)
    ids += publish_events(runtime, acme.tenant_id, 130)
    # On PostgreSQL an event is served once every older transaction has ended (none can then
    # commit before it): a read may end before the newest, so read until they came.
    got: list[tuple[FeedEvent, str | None]] = []

    def complete() -> bool:
        got[:] = Feed(service, acme.token, page_size=100).events()
        return len(got) >= len(ids)

    wait_until(complete, timeout=30)
    assert [item.id for item, _ in got] == [str(i) for i in ids]
    assert all(isinstance(item.event, DocumentEvent) and item.event.id == "42" for item, _ in got)
    for n in (0, 99, 150, 249):  # resuming after event n gives every later event, perhaps again some before
        cursor = got[n][1]
        again = [item.id for item, _ in Feed(service, acme.token, page_size=100).events(since=cursor)]
        assert again == [str(i) for i in ids][len(ids) - len(again) :] and len(again) >= len(ids) - n - 1
    assert list(Feed(service, acme.token).events(since=got[-1][1])) == []
    assert list(Feed(service, acme.token).events(topic="processing-finished")) == []
    with pytest.raises(FeedError) as theirs:
        list(Feed(service, other.token).events(since=got[-1][1]))
    assert theirs.value.status == 404


def test_a_cursor_retention_passed_is_feed_gone_and_its_resume_from_reads_on(
    runtime: Runtime, service: str, acme: NewTenant
) -> None:
    ids = publish_events(runtime, acme.tenant_id, 4)
    wait_until(lambda: len(list(Feed(service, acme.token).events())) == 4, timeout=30)  # served (see above)
    cursor = Feed(service, acme.token, page_size=1).page().cursor  # after the first event
    with runtime.db.transaction() as conn:  # what retention does: delete the oldest, move the horizon
        deleted = conn.all(
            f"DELETE FROM events WHERE id IN (:a, :b) RETURNING {horizon.deleted_columns(conn)}",
            {"a": ids[0], "b": ids[1]},
        )
        horizon.advance(conn, deleted)
    with pytest.raises(FeedGone) as gone:
        list(Feed(service, acme.token).events(since=cursor))
    assert gone.value.status == 410
    assert [item.id for item, _ in Feed(service, acme.token).events(since=gone.value.resume_from)] == [
        str(i) for i in ids[2:]
    ]
