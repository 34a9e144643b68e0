-- Tessera reference server: users, sessions, refresh tokens, audit.
-- Times are milliseconds since the Unix epoch (UTC).

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    display_name  TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('agent', 'admin')),
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);

-- One row per signed-in device. The refresh-token chain is tracked here: the current token,
-- the one it replaced (usable again only inside the grace window) and when that rotation happened.
CREATE TABLE sessions (
    id                  TEXT    PRIMARY KEY,
    user_id             INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id           TEXT    NOT NULL,
    device_name         TEXT    NOT NULL,
    platform            TEXT    NOT NULL,
    app_version         TEXT    NOT NULL,
    ip                  TEXT    NOT NULL,
    created_at          INTEGER NOT NULL,
    last_activity_at    INTEGER NOT NULL,
    last_seen_at        INTEGER NOT NULL,
    expires_at          INTEGER NOT NULL,
    current_token_hash  BLOB    NOT NULL,
    previous_token_hash BLOB,
    previous_rotated_at INTEGER,
    ended_at            INTEGER,
    end_reason          TEXT
);
CREATE INDEX sessions_by_user ON sessions(user_id, ended_at);

-- Every refresh token ever issued, by SHA-256 hash, so a replayed old one is recognised and
-- its whole session revoked. Rows go with their session.
CREATE TABLE refresh_tokens (
    hash       BLOB    PRIMARY KEY,
    session_id TEXT    NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    issued_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX refresh_tokens_by_session ON refresh_tokens(session_id);

CREATE TABLE audit (
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    user_id    INTEGER,
    username   TEXT,
    session_id TEXT,
    ip         TEXT,
    detail     TEXT
);
CREATE INDEX audit_by_user ON audit(user_id, id);
