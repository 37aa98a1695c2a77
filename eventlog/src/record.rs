//! One stored event as the outside world sees it (the audit item, and the
//! body of every JetStream message), and reading them in commit order.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventRecord {
    pub position: i64,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: Value,
    pub metadata: Value,
    pub recorded_at: DateTime<Utc>,
}

impl EventRecord {
    /// `<aggregate_type>:<aggregate_id>:<sequence>`, the `Nats-Msg-Id`.
    pub fn message_id(&self) -> String {
        format!(
            "{}:{}:{}",
            self.aggregate_type, self.aggregate_id, self.sequence
        )
    }

    /// The W3C trace context of the request that wrote the event, if any.
    pub fn traceparent(&self) -> Option<&str> {
        self.metadata.get("traceparent").and_then(|t| t.as_str())
    }

    /// The payload as cqrs-es stored it: `{"<EventType>": {...}}`, ready to
    /// deserialize into the aggregate's event enum.
    pub fn tagged_payload(&self) -> Value {
        serde_json::json!({ self.event_type.clone(): self.payload.clone() })
    }
}

/// A place in commit order: `(tx_id, position)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct CommitCursor {
    pub tx_id: i64,
    pub position: i64,
}

/// A row of `events` as the readers select it (`tx_id::text::bigint AS
/// tx_id`, then the record's columns); it converts into its cursor and record.
#[derive(sqlx::FromRow)]
pub struct Row {
    tx_id: i64,
    position: i64,
    aggregate_type: String,
    aggregate_id: String,
    sequence: i64,
    event_type: String,
    event_version: String,
    payload: Value,
    metadata: Value,
    recorded_at: DateTime<Utc>,
}

/// cqrs-es stores `{"EventType": {...}}`; the record carries the inner object.
fn untag(event_type: &str, payload: Value) -> Value {
    match payload {
        Value::Object(mut map) if map.len() == 1 && map.contains_key(event_type) => {
            map.remove(event_type).unwrap_or(Value::Null)
        }
        other => other,
    }
}

impl From<Row> for (CommitCursor, EventRecord) {
    fn from(r: Row) -> Self {
        let cursor = CommitCursor {
            tx_id: r.tx_id,
            position: r.position,
        };
        let record = EventRecord {
            position: r.position,
            payload: untag(&r.event_type, r.payload),
            aggregate_type: r.aggregate_type,
            aggregate_id: r.aggregate_id,
            sequence: r.sequence,
            event_type: r.event_type,
            event_version: r.event_version,
            metadata: r.metadata,
            recorded_at: r.recorded_at,
        };
        (cursor, record)
    }
}

/// The next committed events after `after`, in commit order, never skipping
/// one (DESIGN.md invariant 1): only events of transactions below
/// [`release_bound`] are read, and every event-writing transaction below it has
/// ended, so no earlier event can become visible later.
/// `types` limits the aggregate types read (all when empty).
pub async fn read_committed_after(
    db: &mut PgConnection,
    after: CommitCursor,
    types: &[&str],
    limit: i64,
) -> sqlx::Result<Vec<(CommitCursor, EventRecord)>> {
    // Two statements, in this order: the bound must come from a snapshot
    // taken before the one the events are read with. `ORDER BY events.…`:
    // a bare `tx_id` would name the bigint output column, which no index
    // orders (a sort of the whole range instead of an index walk).
    let bound = release_bound(&mut *db).await?;
    let types: Vec<String> = types.iter().map(|t| t.to_string()).collect();
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT tx_id::text::bigint AS tx_id, position, aggregate_type, aggregate_id, sequence, \
                event_type, event_version, payload, metadata, recorded_at \
         FROM events \
         WHERE (tx_id, position) > ($1::text::xid8, $2) \
           AND tx_id < $3::text::xid8 \
           AND (cardinality($4::text[]) = 0 OR aggregate_type = ANY($4)) \
         ORDER BY events.tx_id, events.position \
         LIMIT $5",
    )
    .bind(after.tx_id.to_string())
    .bind(after.position)
    .bind(bound.to_string())
    .bind(&types)
    .bind(limit)
    .fetch_all(&mut *db)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// The transaction id below which every transaction that writes events has
/// ended (`events_release_bound()`, migrations/): unlike the snapshot xmin,
/// transactions that write no events — a projector's batch, a report, other
/// databases' work — do not hold it back.
///
/// Read the events with a later statement whose snapshot is newer (autocommit
/// or READ COMMITTED, never a REPEATABLE READ transaction begun before this
/// call): a writer that ended while the bound was computed no longer holds
/// it, and only a newer snapshot sees what it committed.
pub async fn release_bound<'e>(db: impl PgExecutor<'e>) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT events_release_bound()::text::bigint")
        .fetch_one(db)
        .await
}

/// Whether any event after `after` exists, visible or not yet releasable.
pub async fn any_after<'e>(db: impl PgExecutor<'e>, after: CommitCursor) -> sqlx::Result<bool> {
    // `ORDER BY … LIMIT 1` rather than `EXISTS`: its generic plan walks the
    // commit-order index, where `EXISTS` plans as a scan of the whole table.
    let next: Option<i64> = sqlx::query_scalar(
        "SELECT position FROM events WHERE (tx_id, position) > ($1::text::xid8, $2) \
         ORDER BY tx_id, position LIMIT 1",
    )
    .bind(after.tx_id.to_string())
    .bind(after.position)
    .fetch_optional(db)
    .await?;
    Ok(next.is_some())
}

/// When spans are exported: one span per event named `name`, each a child of
/// the trace of the request that wrote the event; it lasts until dropped.
/// Nothing is created otherwise.
pub fn traced<'a>(
    events: impl Iterator<Item = &'a EventRecord>,
    name: &'static str,
) -> Vec<tracing::Span> {
    if !comics_common::telemetry::exporting() {
        return Vec::new();
    }
    events
        .map(|event| {
            let span = tracing::info_span!("event", otel.name = name, event = %event.message_id());
            comics_common::telemetry::follow(&span, event.traceparent());
            span
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_tag_is_removed_and_restored() {
        let stored = serde_json::json!({"ComicDeleted": {}});
        let inner = untag("ComicDeleted", stored.clone());
        assert_eq!(inner, serde_json::json!({}));
        let record = EventRecord {
            position: 1,
            aggregate_type: "Comic".into(),
            aggregate_id: "a".into(),
            sequence: 2,
            event_type: "ComicDeleted".into(),
            event_version: "1".into(),
            payload: inner,
            metadata: serde_json::json!({}),
            recorded_at: Utc::now(),
        };
        assert_eq!(record.tagged_payload(), stored);
        assert_eq!(record.message_id(), "Comic:a:2");
    }
}
