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

use std::collections::{BTreeMap, HashMap};

use anyhow::Context;
use async_nats::jetstream;
use comics_eventlog::audit::chain::{self, Seal, GENESIS};
use comics_eventlog::record::{release_bound, CommitCursor, EventRecord, Row};
use futures::{Stream, StreamExt};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};

use super::heads::{self, Head};
use crate::stream::Names;

/// The most events kept for finding the culprit between two heads.
const WINDOW: usize = 100_000;

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

#[derive(sqlx::FromRow)]
struct SealRow {
    chain_index: i64,
    tx_id: i64,
    position: i64,
    aggregate_type: String,
    aggregate_id: String,
    sequence: i64,
    seal: Vec<u8>,
    stream_sequence: i64,
}

impl SealRow {
    fn failure(&self, reason: impl Into<String>) -> Failure {
        Failure {
            chain_index: self.chain_index,
            position: self.position,
            aggregate_type: self.aggregate_type.clone(),
            aggregate_id: self.aggregate_id.clone(),
            sequence: self.sequence,
            reason: reason.into(),
        }
    }

    fn names(&self, e: &EventRecord) -> bool {
        self.position == e.position
            && self.sequence == e.sequence
            && self.aggregate_type == e.aggregate_type
            && self.aggregate_id == e.aggregate_id
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

/// The walk's state.
struct Check {
    heads: BTreeMap<i64, Head>,
    index: i64,
    sealed: i64,
    stored: Seal,
    computed: Seal,
    /// Each aggregate's last sequence, by type then id.
    sequences: HashMap<String, HashMap<String, i64>>,
    heads_checked: usize,
    last_good_head: Option<i64>,
    /// The events since the last matching head: chain index, stream
    /// sequence, position.
    window: Vec<(i64, Option<i64>, i64)>,
    failure: Option<Failure>,
    /// A head did not match: the window to search.
    rewritten: Option<Rewritten>,
}

/// Events and seals rewritten together: the head that caught it, and the
/// events since the last head that matched.
struct Rewritten {
    head: Head,
    last_good_head: Option<i64>,
    window: Vec<(i64, Option<i64>, i64)>,
}

impl Check {
    fn new(heads: BTreeMap<i64, Head>) -> Self {
        Self {
            heads,
            index: 0,
            sealed: 0,
            stored: GENESIS,
            computed: GENESIS,
            sequences: HashMap::new(),
            heads_checked: 0,
            last_good_head: None,
            window: Vec::new(),
            failure: None,
            rewritten: None,
        }
    }

    async fn run(
        &mut self,
        mut events: impl Stream<Item = sqlx::Result<(CommitCursor, EventRecord)>> + Unpin,
        mut seals: impl Stream<Item = sqlx::Result<SealRow>> + Unpin,
    ) -> anyhow::Result<()> {
        let mut seal = seals.next().await.transpose()?;
        while let Some(item) = events.next().await {
            let (cursor, event) = item.context("cannot read the event log")?;
            self.index += 1;
            let this = seal.take();
            if let Err(f) = self.event(cursor, &event, this.as_ref()) {
                self.failure = Some(f);
                return Ok(());
            }
            if this.is_some() {
                seal = seals.next().await.transpose()?;
            }
            if self.rewritten.is_some() {
                return Ok(());
            }
        }
        if let Some(s) = seal {
            self.failure =
                Some(s.failure("the event sealed here is missing from the log: deleted"));
        } else if let Some((_, head)) = self.heads.range(self.index + 1..).next() {
            self.failure = Some(Failure {
                chain_index: head.chain_index,
                position: head.position,
                aggregate_type: head.aggregate_type.clone(),
                aggregate_id: head.aggregate_id.clone(),
                sequence: head.sequence,
                reason: format!(
                    "the log ends at chain #{} but a head was published for this event: \
                     events were deleted from the end of the log with their seals",
                    self.index
                ),
            });
        }
        Ok(())
    }

    fn event(
        &mut self,
        cursor: CommitCursor,
        e: &EventRecord,
        seal: Option<&SealRow>,
    ) -> Result<(), Failure> {
        let i = self.index;
        let previous = self.computed;
        self.computed = chain::seal(&previous, e);
        if let Some(s) = seal {
            if s.chain_index != i {
                return Err(s.failure(format!(
                    "the seal of chain #{i} is missing (the seals jump to #{})",
                    s.chain_index
                )));
            }
            if !s.names(e) {
                let sealed_first = (s.tx_id, s.position) < (cursor.tx_id, cursor.position);
                return Err(if sealed_first {
                    s.failure("the event sealed here is missing from the log: deleted")
                } else {
                    failure(
                        i,
                        e,
                        "this event is not in the seal chain: inserted into the log",
                    )
                });
            }
            let expected = if self.stored == previous {
                self.computed
            } else {
                chain::seal(&self.stored, e)
            };
            if expected.as_slice() != s.seal.as_slice() {
                return Err(failure(
                    i,
                    e,
                    "the event differs from what was sealed: edited (or its seal was)",
                ));
            }
            self.stored = expected;
            self.sealed += 1;
        }
        let ids = match self.sequences.get_mut(&e.aggregate_type) {
            Some(ids) => ids,
            None => self.sequences.entry(e.aggregate_type.clone()).or_default(),
        };
        let last = match ids.get_mut(&e.aggregate_id) {
            Some(last) => Some(std::mem::replace(last, e.sequence)),
            None => ids.insert(e.aggregate_id.clone(), e.sequence),
        };
        if let Some(last) = last.filter(|l| e.sequence != l + 1) {
            return Err(failure(
                i,
                e,
                format!(
                    "sequence {} follows {last} in its aggregate: inserted, deleted or reordered",
                    e.sequence
                ),
            ));
        }
        if self.window.len() < WINDOW {
            self.window
                .push((i, seal.map(|s| s.stream_sequence), e.position));
        }
        if let Some(head) = self.heads.get(&i) {
            self.heads_checked += 1;
            if head.seal == chain::hex(&self.computed) && head.position == e.position {
                self.last_good_head = Some(i);
                self.window.clear();
            } else {
                self.rewritten = Some(Rewritten {
                    head: head.clone(),
                    last_good_head: self.last_good_head,
                    window: std::mem::take(&mut self.window),
                });
            }
        }
        Ok(())
    }

    fn finish(self) -> (Verification, Option<Rewritten>) {
        (
            Verification {
                events: self.index,
                sealed: self.sealed,
                heads_checked: self.heads_checked,
                head: self.computed,
                failure: self.failure,
            },
            self.rewritten,
        )
    }
}

/// The first event since the last matching head that differs from what the
/// relay published for it; the range when none can be told apart.
async fn culprit(
    db: &mut PgConnection,
    js: &jetstream::Context,
    names: &Names,
    rewritten: Rewritten,
) -> anyhow::Result<Failure> {
    let positions: Vec<i64> = rewritten.window.iter().map(|(_, _, p)| *p).collect();
    let events: HashMap<i64, EventRecord> = sqlx::query_as::<_, Row>(
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
    .collect();
    let stream = js
        .get_stream(names.stream())
        .await
        .context("cannot open the events stream")?;
    for (index, stream_sequence, position) in &rewritten.window {
        let (Some(seq), Some(event)) = (stream_sequence, events.get(position)) else {
            continue;
        };
        let Ok(message) = stream.get_raw_message(*seq as u64).await else {
            continue;
        };
        let Ok(published) = serde_json::from_slice::<EventRecord>(&message.payload) else {
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
    let head = &rewritten.head;
    let since = rewritten
        .last_good_head
        .map(|h| format!("after chain #{h}"))
        .unwrap_or_else(|| "from the start".into());
    Ok(Failure {
        chain_index: head.chain_index,
        position: head.position,
        aggregate_type: head.aggregate_type.clone(),
        aggregate_id: head.aggregate_id.clone(),
        sequence: head.sequence,
        reason: format!(
            "the chain recomputed from the log differs from the head published for this event: \
             events {since} up to here were rewritten together with their seals"
        ),
    })
}
