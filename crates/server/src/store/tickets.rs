//! The `tickets` and `ticket_comments` tables (a minimal support desk that produces events).

use sqlx::SqliteConnection;

/// A ticket with its people's ids and login names.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
#[allow(missing_docs)] // columns are described in migrations/0002_notifications.sql
pub struct TicketRow {
    pub id: i64,
    pub subject: String,
    pub requester_id: i64,
    pub requester: String,
    pub assignee_id: Option<i64>,
    pub assignee: Option<String>,
}

/// Creates a ticket; returns its id.
pub async fn insert(
    conn: &mut SqliteConnection,
    subject: &str,
    requester_id: i64,
    assignee_id: Option<i64>,
    now_ms: i64,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO tickets (subject, requester_id, assignee_id, created_at) VALUES (?, ?, ?, ?) RETURNING id",
    )
    .bind(subject)
    .bind(requester_id)
    .bind(assignee_id)
    .bind(now_ms)
    .fetch_one(conn)
    .await
}

/// A ticket by id.
pub async fn by_id(conn: &mut SqliteConnection, id: i64) -> sqlx::Result<Option<TicketRow>> {
    sqlx::query_as(
        "SELECT t.id, t.subject, t.requester_id, r.username AS requester, t.assignee_id, a.username AS assignee
         FROM tickets t JOIN users r ON r.id = t.requester_id LEFT JOIN users a ON a.id = t.assignee_id
         WHERE t.id = ?",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Sets the assignee. Returns whether the ticket exists.
pub async fn assign(conn: &mut SqliteConnection, id: i64, assignee_id: i64) -> sqlx::Result<bool> {
    sqlx::query("UPDATE tickets SET assignee_id = ? WHERE id = ?")
        .bind(assignee_id)
        .bind(id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected() == 1)
}

/// Adds a comment; returns its id.
pub async fn add_comment(
    conn: &mut SqliteConnection,
    ticket_id: i64,
    author_id: i64,
    body: &str,
    now_ms: i64,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO ticket_comments (ticket_id, author_id, body, created_at) VALUES (?, ?, ?, ?) RETURNING id",
    )
    .bind(ticket_id)
    .bind(author_id)
    .bind(body)
    .bind(now_ms)
    .fetch_one(conn)
    .await
}
