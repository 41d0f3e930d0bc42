-- Unique tenant names, several named API tokens per tenant, and sessions tied to the token
-- they were made with (so revoking a token ends them).

-- A database from before may hold two tenants of one name. The oldest keeps it; each later
-- one becomes "NAME (ID)", deterministic and almost surely free, so the unique index below
-- can be built instead of failing the upgrade.
UPDATE tenants SET name = name || ' (' || id || ')'
WHERE EXISTS (SELECT 1 FROM tenants older WHERE older.name = tenants.name AND older.id < tenants.id);
CREATE UNIQUE INDEX tenants_name ON tenants (name);

-- The token `tenant create` made becomes the tenant's token "default". Its plaintext was never
-- stored, so its prefix stays unknown (NULL); it is revoked by name.
ALTER TABLE api_tokens ADD COLUMN name TEXT NOT NULL DEFAULT 'default';
ALTER TABLE api_tokens ADD COLUMN prefix TEXT;
ALTER TABLE api_tokens ADD COLUMN last_used_at BIGINT;
UPDATE api_tokens SET name = 'default-' || id
WHERE EXISTS (SELECT 1 FROM api_tokens older WHERE older.tenant_id = api_tokens.tenant_id AND older.id < api_tokens.id);
CREATE UNIQUE INDEX api_tokens_tenant_name ON api_tokens (tenant_id, name);

-- Sessions signed in before this migration are tied to their tenant's oldest token: until
-- now every tenant had exactly one, so nobody is signed out by the upgrade.
ALTER TABLE ui_sessions ADD COLUMN token_id BIGINT REFERENCES api_tokens (id) ON DELETE CASCADE;
UPDATE ui_sessions SET token_id = (SELECT MIN(id) FROM api_tokens WHERE api_tokens.tenant_id = ui_sessions.tenant_id);
CREATE INDEX ui_sessions_token ON ui_sessions (token_id);
