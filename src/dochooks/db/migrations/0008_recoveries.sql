-- Bulk recovery jobs: a webhook's deliveries of one status, last changed since a time, made
-- due again in batches by the background. The job walks the webhook's deliveries by id up to
-- last_id (its newest when the job began); after_id is how far it has gone, written in the
-- same transaction as each batch, so a restart goes on where it stopped and makes none due twice.
CREATE TABLE recoveries (
    id {pk},
    tenant_id BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    webhook_id BIGINT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    since BIGINT NOT NULL,                -- deliveries last changed at or after this time
    delivery_status TEXT NOT NULL,        -- which: failed, succeeded or all
    status TEXT NOT NULL,                 -- the job's: queued, running, done
    total BIGINT NOT NULL,                -- deliveries that matched when it began
    recovered BIGINT NOT NULL,            -- made due so far
    after_id BIGINT NOT NULL,
    last_id BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT
);
-- At most one unfinished job per webhook: a second request joins it.
CREATE UNIQUE INDEX recoveries_unfinished ON recoveries (webhook_id) WHERE status <> 'done';
CREATE INDEX recoveries_webhook ON recoveries (webhook_id, id);
