-- Sign-in sessions of the web UI. Only a digest of the session id is stored: a copy of
-- this table does not let anyone sign in. The CSRF token is derived from the id itself.
CREATE TABLE ui_sessions (
    id {pk},
    tenant_id BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    session_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX ui_sessions_expires ON ui_sessions (expires_at);
