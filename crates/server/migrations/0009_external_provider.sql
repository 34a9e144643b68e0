-- An organisation's identity provider (issue 15): users created from its tokens, and the
-- sessions that stand for each signed-in desktop.

-- Who a provider's `sub` is here. A user created this way has no password (`!`, which no
-- argon2id PHC string equals), so it can only come in through the provider.
CREATE TABLE external_identities (
    issuer  TEXT    NOT NULL,
    subject TEXT    NOT NULL,
    user_id INTEGER NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (issuer, subject)
) WITHOUT ROWID;

-- A session opened for a provider's tokens is keyed by SHA-256 (hex) of the issuer, the
-- subject, the client's device-session id and the provider's `sid`; at most one is open per key.
ALTER TABLE sessions ADD COLUMN device_key TEXT;
CREATE UNIQUE INDEX sessions_open_by_device_key ON sessions(device_key) WHERE device_key IS NOT NULL AND ended_at IS NULL;
CREATE INDEX sessions_by_device_key ON sessions(device_key, created_at) WHERE device_key IS NOT NULL;
