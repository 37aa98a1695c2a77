//! `comics audit verify`: recomputes the chain from the log and compares it
//! with the stored seals and the published heads, in one pass.
//!
//! Both the log (in commit order) and the seals (by chain index) are read
//! as two streaming queries in one snapshot (exported from the first
//! connection to the second), so the check costs two sequential scans and
//! no statement per event. For each event it checks, in this order:
//!
//! 1. that it is the event the next seal names (position, aggregate,
//!    sequence): otherwise an event was inserted (the log's event sorts
//!    first) or deleted (the seal's does);
//! 2. that `sha256(stored previous seal || its canonical bytes)` is its
//!    stored seal: otherwise the event (or its seal) was edited;
//! 3. that its sequence follows its aggregate's previous one;
//! 4. where a head was published for its chain index, that the chain
//!    recomputed from the log alone gives that head: otherwise the events
//!    and their seals were rewritten together. The culprit is then found by
//!    comparing the events since the last matching head with the messages
//!    the relay published for them (the events stream).
//!
//! Heads are read before the snapshot is taken, so every head names an
//! event the snapshot holds: a head past the end of the log means events
//! were deleted from its end.

use std::collections::HashMap;

use anyhow::Context;
use async_nats::jetstream;
use comics_eventlog::audit::chain::{self, Seal};
use comics_eventlog::record::{release_bound, CommitCursor, EventRecord, Row};
use futures::StreamExt;
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};

use super::heads;
use crate::stream::Names;

mod check;

use check::{Check, Rewritten, SealRow};

/// What the check found.
#[derive(Debug, Clone)]
pub struct Verification {
    /// Events read from the log (in commit order).
    pub events: i64,
    /// Of which sealed.
    pub sealed: i64,
    /// Published heads compared.
    pub heads_checked: usize,
    /// The chain's head recomputed from the log.
    pub head: Seal,
    /// The first bad event, if any.
    pub failure: Option<Failure>,
}

/// The first event at which the log and its chain disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The event's place in the chain (1 = the first event).
    pub chain_index: i64,
    pub position: i64,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub reason: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "position {} ({} {} sequence {}, chain #{}): {}",
            self.position,
            self.aggregate_type,
            self.aggregate_id,
            self.sequence,
            self.chain_index,
            self.reason
        )
    }
}

fn failure(index: i64, e: &EventRecord, reason: impl Into<String>) -> Failure {
    Failure {
        chain_index: index,
        position: e.position,
        aggregate_type: e.aggregate_type.clone(),
        aggregate_id: e.aggregate_id.clone(),
        sequence: e.sequence,
        reason: reason.into(),
    }
}

/// Checks the whole log. `Err` only when the check could not run.
pub async fn verify(
    pool: &PgPool,
    js: &jetstream::Context,
    names: &Names,
) -> anyhow::Result<Verification> {
    let heads = heads::read_all(js, names).await?;
    // Each streaming query runs as long as the check: not a slow statement.
    let options = (*pool.connect_options())
        .clone()
        .disable_statement_logging();
    let mut events_db = PgConnection::connect_with(&options).await?;
    let mut seals_db = PgConnection::connect_with(&options).await?;
    let bound = release_bound(&mut events_db).await?;
    sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut events_db)
        .await?;
    let snapshot: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
        .fetch_one(&mut events_db)
        .await?;
    sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut seals_db)
        .await?;
    sqlx::query(&format!("SET TRANSACTION SNAPSHOT '{snapshot}'"))
        .execute(&mut seals_db)
        .await?;
    let events = sqlx::query_as::<_, Row>(
        "SELECT tx_id::text::bigint AS tx_id, position, aggregate_type, aggregate_id, sequence, \
                event_type, event_version, payload, metadata, recorded_at \
         FROM events WHERE tx_id < $1::text::xid8 ORDER BY events.tx_id, events.position",
    )
    .bind(bound.to_string())
    .fetch(&mut events_db)
    .map(|r| r.map(<(CommitCursor, EventRecord)>::from));
    let seals = sqlx::query_as::<_, SealRow>(
        "SELECT chain_index, tx_id::text::bigint AS tx_id, position, aggregate_type, \
                aggregate_id, sequence, seal, stream_sequence \
         FROM audit_seals ORDER BY chain_index",
    )
    .fetch(&mut seals_db);
    let mut check = Check::new(heads);
    check.run(events, seals).await?;
    let (mut verification, rewritten) = check.finish();
    if let Some(rewritten) = rewritten {
        // In the same snapshot, on the connection that read the log.
        verification.failure = Some(culprit(&mut events_db, js, names, rewritten).await?);
    }
    Ok(verification)
}

/// The first event since the last matching head that differs from what the
/// relay published for it; the range when none can be told apart.
async fn culprit(
    db: &mut PgConnection,
    js: &jetstream::Context,
    names: &Names,
    rewritten: Rewritten,
) -> anyhow::Result<Failure> {
    let events = window_events(db, &rewritten.window).await?;
    let stream = js
        .get_stream(names.stream())
        .await
        .context("cannot open the events stream")?;
    for (index, stream_sequence, position) in &rewritten.window {
        let (Some(seq), Some(event)) = (stream_sequence, events.get(position)) else {
            continue;
        };
        let Some(published) = published(&stream, *seq).await else {
            continue;
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        chain::canonical(event, &mut a);
        chain::canonical(&published, &mut b);
        if a != b {
            return Ok(failure(
                *index,
                event,
                "the event differs from the one published when it was committed: edited, \
                 and its seals rewritten to match (caught by the published chain heads)",
            ));
        }
    }
    Ok(rewritten_together(&rewritten))
}

/// The events of the window (chain index, stream sequence, position), by
/// position.
async fn window_events(
    db: &mut PgConnection,
    window: &[(i64, Option<i64>, i64)],
) -> anyhow::Result<HashMap<i64, EventRecord>> {
    let positions: Vec<i64> = window.iter().map(|(_, _, p)| *p).collect();
    Ok(sqlx::query_as::<_, Row>(
        "SELECT tx_id::text::bigint AS tx_id, position, aggregate_type, aggregate_id, sequence, \
                event_type, event_version, payload, metadata, recorded_at \
         FROM events WHERE position = ANY($1)",
    )
    .bind(&positions)
    .fetch_all(&mut *db)
    .await?
    .into_iter()
    .map(|r| {
        let (_, e) = <(CommitCursor, EventRecord)>::from(r);
        (e.position, e)
    })
    .collect())
}

/// The event the relay published as message `seq` of the events stream, if
/// it can still be read.
async fn published(stream: &jetstream::stream::Stream, seq: i64) -> Option<EventRecord> {
    let message = stream.get_raw_message(seq as u64).await.ok()?;
    serde_json::from_slice::<EventRecord>(&message.payload).ok()
}

/// No event told apart: the events since the last matching head up to the
/// one that did not match were rewritten with their seals.
fn rewritten_together(rewritten: &Rewritten) -> Failure {
    let head = &rewritten.head;
    let since = rewritten
        .last_good_head
        .map(|h| format!("after chain #{h}"))
        .unwrap_or_else(|| "from the start".into());
    Failure {
        chain_index: head.chain_index,
        position: head.position,
        aggregate_type: head.aggregate_type.clone(),
        aggregate_id: head.aggregate_id.clone(),
        sequence: head.sequence,
        reason: format!(
            "the chain recomputed from the log differs from the head published for this event: \
             events {since} up to here were rewritten together with their seals"
        ),
    }
}
