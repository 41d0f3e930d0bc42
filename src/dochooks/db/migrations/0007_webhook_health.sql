-- A webhook's health, kept by the recorder from its workflow deliveries' attempts, in the
-- transaction that records them (webhooks/health.py). failing_since is the first failed
-- attempt since the last success (NULL while healthy); disabled_at is when the webhook was
-- disabled, by its owner or by dochooks (then disabled_reason says why).
ALTER TABLE webhooks ADD COLUMN failing_since BIGINT;
ALTER TABLE webhooks ADD COLUMN consecutive_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhooks ADD COLUMN last_success_at BIGINT;
ALTER TABLE webhooks ADD COLUMN last_error TEXT;
ALTER TABLE webhooks ADD COLUMN disabled_at BIGINT;
