-- The delivery scheduler looks for owed deliveries by due time (notify/delivery.rs): an index
-- keeps that look from scanning every row owed.
CREATE INDEX webhook_pending_due ON webhook_pending (due_at);
