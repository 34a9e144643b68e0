-- Webhook deliveries still owed, so a restart resumes them instead of forgetting them.
-- A row is written in the transaction that appends the notification (one per webhook of the
-- user), updated after each failed attempt, and deleted once the delivery succeeded or gave up.
CREATE TABLE webhook_pending (
    webhook_id TEXT    NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    -- Attempts made so far.
    attempts   INTEGER NOT NULL DEFAULT 0,
    -- When the next attempt is due (ms since the Unix epoch).
    due_at     INTEGER NOT NULL,
    PRIMARY KEY (webhook_id, seq)
);
