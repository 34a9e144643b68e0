-- Notifications: a durable per-user outbox, the minimal tickets that produce events, webhooks.
-- Times are milliseconds since the Unix epoch (UTC).

-- One stream per user. `epoch` is a random id that changes whenever the stream's history is
-- reset, so a client holding a cursor of an older epoch knows to start over. `last_seq` is the
-- highest seq ever issued in this epoch; `pruned_through` the highest seq removed by retention
-- (a resume from below it cannot be served).
CREATE TABLE notification_streams (
    user_id        INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    epoch          TEXT    NOT NULL,
    last_seq       INTEGER NOT NULL,
    pruned_through INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE notifications (
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    type       TEXT    NOT NULL,
    payload    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    read_at    INTEGER,
    PRIMARY KEY (user_id, seq)
) WITHOUT ROWID;

CREATE TABLE tickets (
    id           INTEGER PRIMARY KEY,
    subject      TEXT    NOT NULL,
    requester_id INTEGER NOT NULL REFERENCES users(id),
    assignee_id  INTEGER REFERENCES users(id),
    created_at   INTEGER NOT NULL
);

CREATE TABLE ticket_comments (
    id         INTEGER PRIMARY KEY,
    ticket_id  INTEGER NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    author_id  INTEGER NOT NULL REFERENCES users(id),
    body       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

-- The secret is stored as is, not hashed: the server must compute HMACs with it on every
-- delivery (it is a shared signing key, not a credential the server only verifies).
CREATE TABLE webhooks (
    id         TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    url        TEXT    NOT NULL,
    secret     TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX webhooks_by_user ON webhooks(user_id);

CREATE TABLE webhook_deliveries (
    id         INTEGER PRIMARY KEY,
    webhook_id TEXT    NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    attempt    INTEGER NOT NULL,
    at         INTEGER NOT NULL,
    status     INTEGER,
    outcome    TEXT    NOT NULL CHECK (outcome IN ('delivered', 'retrying', 'failed')),
    error      TEXT
);
CREATE INDEX webhook_deliveries_by_hook ON webhook_deliveries(webhook_id, id);
