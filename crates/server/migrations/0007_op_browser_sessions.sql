-- The OpenID Provider's own browser session (single sign-on, issue 14): the cookie's random id
-- is stored as its SHA-256 with who signed in and when. A later authorization request with a
-- valid cookie skips the password.
CREATE TABLE op_browser_sessions (
    id_hash     BLOB    PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    auth_time   INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX op_browser_sessions_expiry ON op_browser_sessions (expires_at);
