-- The event feed (GET /v1/events, events/feed.py). On PostgreSQL two transactions can
-- commit out of id order, so each event keeps the id of the transaction that wrote it
-- (`xact`): the feed is ordered by (xact, id) and shows only events of transactions older
-- than every one still open, so an event committed late is never behind a cursor already
-- given out. On SQLite one writer commits in id order: `xact` is 0 and the id orders alone.
ALTER TABLE events ADD COLUMN xact {xid} NOT NULL DEFAULT {current_xact};
-- A test send (POST /v1/webhooks/{id}/test): the feed marks it.
ALTER TABLE events ADD COLUMN test BOOLEAN NOT NULL DEFAULT FALSE;
-- The feed's walk per tenant; (tenant_id, id) served only the document timeline, which
-- events_document serves better.
DROP INDEX events_tenant;
CREATE INDEX events_feed ON events (tenant_id, xact, id);
CREATE INDEX events_document ON events (document_id, xact, id) WHERE document_id IS NOT NULL;
-- Per tenant, the feed position up to which retention has deleted events: a cursor before
-- it may have missed some (410 Gone); one at or after it is whole.
CREATE TABLE event_feed_horizons (
    tenant_id BIGINT PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    xact {xid} NOT NULL,
    id BIGINT NOT NULL
);
