-- What a web UI page shows after a post redirected to it (post/redirect/get): a form's
-- errors with what was typed, a test send's error, a grant to show the signing secret.
-- Kept with the session that posted (gone with it), for one page, found by a random nonce
-- in that page's address; the body is encrypted, as it may hold typed header values.
CREATE TABLE ui_flashes (
    id {pk},
    session_hash TEXT NOT NULL REFERENCES ui_sessions (session_hash) ON DELETE CASCADE,
    nonce TEXT NOT NULL,
    page TEXT NOT NULL,
    body TEXT NOT NULL,
    once BOOLEAN NOT NULL,   -- shown to one GET only (the revealed secret)
    shown_at BIGINT,         -- when a `once` flash was shown
    expires_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX ui_flashes_nonce ON ui_flashes (session_hash, nonce);
CREATE INDEX ui_flashes_expires ON ui_flashes (expires_at);
