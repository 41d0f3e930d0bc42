-- Why a webhook was disabled by dochooks (a 410 Gone), and the signing secret it rotated
-- away from, which still signs deliveries until previous_secret_expires_at.
ALTER TABLE webhooks ADD COLUMN disabled_reason TEXT;
ALTER TABLE webhooks ADD COLUMN previous_secret TEXT;             -- encrypted whsec_ secret
ALTER TABLE webhooks ADD COLUMN previous_secret_expires_at BIGINT;
