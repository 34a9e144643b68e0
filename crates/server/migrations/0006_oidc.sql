-- OpenID Provider (issue 14): authorization codes and pending sign-in forms. Secrets are stored as
-- SHA-256 hashes only.

-- An authorization code (RFC 6749 §4.1.2): single use, 60 s. `session_id` is the session its
-- exchange opened, so a replayed code can revoke it (RFC 6749 §4.1.2).
CREATE TABLE authorization_codes (
    code_hash       BLOB    PRIMARY KEY,
    client_id       TEXT    NOT NULL,
    redirect_uri    TEXT    NOT NULL,
    code_challenge  TEXT    NOT NULL,
    nonce           TEXT,
    user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    auth_time       INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    used_at         INTEGER,
    session_id      TEXT
);

-- A sign-in form shown for a validated authorization request: the form's hidden id (hashed) keys
-- the request's parameters; the CSRF token (hashed) must come back in the form and its cookie.
CREATE TABLE pending_authorizations (
    id_hash     BLOB    PRIMARY KEY,
    csrf_hash   BLOB    NOT NULL,
    params      TEXT    NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX pending_authorizations_expiry ON pending_authorizations (expires_at);
CREATE INDEX authorization_codes_expiry ON authorization_codes (expires_at);
