-- Device authorization grant (RFC 8628, issue 14). The device code is stored as its SHA-256;
-- the user code is short and typed by a person, so it is unique among open requests.
CREATE TABLE device_codes (
    device_hash   BLOB    PRIMARY KEY,
    user_code     TEXT    NOT NULL UNIQUE,
    client_id     TEXT    NOT NULL,
    expires_at    INTEGER NOT NULL,
    interval_secs INTEGER NOT NULL,
    last_poll_at  INTEGER,
    -- pending, approved, denied or used
    status        TEXT    NOT NULL DEFAULT 'pending',
    user_id       INTEGER REFERENCES users(id) ON DELETE CASCADE,
    auth_time     INTEGER
);
CREATE INDEX device_codes_expiry ON device_codes (expires_at);
