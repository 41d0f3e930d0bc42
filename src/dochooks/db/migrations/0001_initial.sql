-- Tenants, their API tokens, webhook configuration, and the delivery queue with its log.
-- {pk} is the one word the engines spell differently: an auto-assigned integer primary key.
-- Times are integer milliseconds since the epoch (UTC).

CREATE TABLE tenants (
    id {pk},
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE api_tokens (
    id {pk},
    tenant_id BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE webhooks (
    id {pk},
    tenant_id BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    headers TEXT NOT NULL,            -- encrypted JSON object of custom headers
    secret TEXT NOT NULL,             -- encrypted whsec_ signing secret
    enabled BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX webhooks_tenant ON webhooks (tenant_id, id);

CREATE TABLE webhook_topics (
    webhook_id BIGINT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    topic TEXT NOT NULL,
    PRIMARY KEY (webhook_id, topic)
);
CREATE INDEX webhook_topics_topic ON webhook_topics (topic, webhook_id);

CREATE TABLE events (
    id {pk},
    tenant_id BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    topic TEXT NOT NULL,
    document_id BIGINT,
    payload TEXT NOT NULL,            -- the delivery body but for request_id and topic
    created_at BIGINT NOT NULL
);
CREATE INDEX events_tenant ON events (tenant_id, id);

-- The queue: a pending delivery is due when next_attempt_at has passed. A claim moves
-- next_attempt_at to the end of its lease, so a crashed worker's claims come back by themselves.
CREATE TABLE deliveries (
    id {pk},
    tenant_id BIGINT NOT NULL,
    webhook_id BIGINT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id BIGINT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    topic TEXT NOT NULL,
    request_id TEXT NOT NULL,
    status TEXT NOT NULL,             -- pending, succeeded, failed
    attempt_count INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    locked_by TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_webhook ON deliveries (webhook_id, id);
CREATE INDEX deliveries_event ON deliveries (event_id);

CREATE TABLE attempts (
    id {pk},
    delivery_id BIGINT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    started_at BIGINT NOT NULL,
    duration_ms INTEGER NOT NULL,
    request_headers TEXT NOT NULL,    -- JSON, secret values masked
    response_status INTEGER,
    response_body TEXT,
    error TEXT
);
CREATE INDEX attempts_delivery ON attempts (delivery_id, number);
