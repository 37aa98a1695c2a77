//! The relay: tails the event table in commit order and publishes every event
//! to `<PREFIX>_EVENTS`, pipelined, without loss, gap, reorder or duplicate.
//!
//! - Order and gaps: events are read by `(tx_id, position)` below the oldest
//!   transaction still writing events ([`read_committed_after`]), so no
//!   earlier event can appear after a later one has been read.
//! - Duplicates: every publish names the stream sequence it expects to follow
//!   (`Nats-Expected-Last-Sequence`) and its `Nats-Msg-Id`. The cursor of
//!   record is the last message in the stream itself (its `Comics-Tx-Id` and
//!   `Comics-Position` headers), so a relay that died between publishing and
//!   saving anything resumes exactly after what the stream holds, however
//!   long it was down. A second relay (another instance) cannot interleave:
//!   its expected sequence would be wrong, and it resynchronises.
//! - Latency: while the relay sleeps it holds an advisory lock, and an
//!   append NOTIFYs `comics_events` when it finds that lock taken; awake, the
//!   relay reads again at once, with a short poll while an older transaction
//!   holds back events that are already committed.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_nats::jetstream::{self, context::PublishAckFuture, message::PublishMessage, stream};
use async_trait::async_trait;
use comics_eventlog::record::{any_after, read_committed_after, CommitCursor, EventRecord};
use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

use crate::stream::{ensure_stream, Names};
use crate::worker::{supervise, Attempt, Leadership, Stop};

mod flight;
mod meter;

use flight::Flight;
use meter::Meter;

pub const TX_ID_HEADER: &str = "Comics-Tx-Id";
pub const POSITION_HEADER: &str = "Comics-Position";
const NOTIFY_CHANNEL: &str = "comics_events";
const BATCH: i64 = 1024;
/// Batches sent whose acknowledgements are not awaited yet.
const IN_FLIGHT: usize = 3;
/// The W3C trace context header, copied from the event's metadata.
pub const TRACEPARENT: &str = "traceparent";
const IDLE_POLL: Duration = Duration::from_secs(1);
/// How often the cursor is copied to `relay_cursors` (for operators; the
/// stream itself is the cursor of record).
const SAVE_EVERY: Duration = Duration::from_secs(1);

pub struct Relay {
    pool: PgPool,
    js: jetstream::Context,
    names: Names,
}

/// Where the stream ends: the last event it holds and its stream sequence.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamEnd {
    pub cursor: CommitCursor,
    pub last_sequence: u64,
}

impl Relay {
    pub fn new(pool: PgPool, client: async_nats::Client, names: Names) -> Self {
        Self {
            pool,
            js: jetstream::new(client),
            names,
        }
    }

    /// Runs until `shutdown`, finishing the batch in hand. Only one relay per
    /// stream publishes at a time (a Postgres advisory lock); others wait.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let leadership = Leadership {
            pool: self.pool.clone(),
            key: format!("comics-relay:{}", self.names.stream()),
        };
        supervise("relay", Some(&leadership), &self, &shutdown).await;
        Ok(())
    }

    /// Publishes until shutdown. `leader` is the connection holding the
    /// leadership lock; it also holds the "asleep" lock while the relay waits.
    ///
    /// Batches are pipelined: while the acknowledgements of up to
    /// [`IN_FLIGHT`] batches are outstanding, the next batch is read and
    /// sent. Each message names the stream sequence it must follow, so the
    /// stream takes them in order or not at all; a failed acknowledgement
    /// ends the attempt, and the next resumes after what the stream holds.
    async fn lead(
        &self,
        stream: &stream::Stream,
        leader: &mut sqlx::PgConnection,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<Stop> {
        // Acknowledged: the stream holds everything up to here.
        let mut end = stream_end(stream).await?;
        // Sent: where the next batch follows on.
        let mut sent = end;
        let mut flights: VecDeque<Flight> = VecDeque::with_capacity(IN_FLIGHT + 1);
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(NOTIFY_CHANNEL).await?;
        let mut backoff = Duration::from_millis(2);
        let mut saved = (Instant::now() - SAVE_EVERY, None);
        let mut meter = Meter::default();
        while !shutdown.is_cancelled() {
            // On the leader's own connection: no pool round trip per read.
            let batch = read_committed_after(&mut *leader, sent.cursor, &[], BATCH).await?;
            if !batch.is_empty() {
                let last = (batch.len() as i64) < BATCH;
                let flight = self.send(sent, batch).await?;
                sent = flight.end;
                flights.push_back(flight);
                while flights.len() > IN_FLIGHT || (last && !flights.is_empty()) {
                    let Some(mut flight) = flights.pop_front() else {
                        break;
                    };
                    end = flight.confirm(end).await?;
                    let caught_up = last && flights.is_empty();
                    meter.published(&flight, caught_up, leader).await?;
                }
                self.save_cursor(end.cursor, &mut saved).await?;
                backoff = Duration::from_millis(2);
                continue;
            }
            while let Some(mut flight) = flights.pop_front() {
                end = flight.confirm(end).await?;
                meter.published(&flight, flights.is_empty(), leader).await?;
            }
            meter.caught_up();
            // Nothing releasable: wait until there may be.
            self.save_cursor(end.cursor, &mut saved).await?;
            wait(leader, &mut listener, end.cursor, &mut backoff, shutdown).await?;
        }
        // Shutdown: the batches in hand are finished.
        while let Some(mut flight) = flights.pop_front() {
            end = flight.confirm(end).await?;
        }
        Ok(Stop::Shutdown)
    }

    /// Sends `batch` in order after `end`, all in flight at once; the
    /// returned flight awaits the acknowledgements.
    async fn send(
        &self,
        end: StreamEnd,
        batch: Vec<(CommitCursor, EventRecord)>,
    ) -> anyhow::Result<Flight> {
        let mut acks: Vec<PublishAckFuture> = Vec::with_capacity(batch.len());
        // Exported, each event's publication is a span in its request's trace.
        let _spans = comics_eventlog::record::traced(
            batch.iter().map(|(_, record)| record),
            "relay publish",
        );
        for (i, (cursor, record)) in batch.iter().enumerate() {
            let message = PublishMessage::build()
                .payload(serde_json::to_vec(record)?.into())
                .message_id(record.message_id())
                .expected_last_sequence(end.last_sequence + i as u64)
                .header(TX_ID_HEADER, cursor.tx_id.to_string().as_str())
                .header(POSITION_HEADER, cursor.position.to_string().as_str());
            // The trace of the request that wrote it, for the consumers.
            let message = match record.traceparent() {
                Some(traceparent) => message.header(TRACEPARENT, traceparent),
                None => message,
            };
            let subject = self
                .names
                .subject(&record.aggregate_type, &record.aggregate_id);
            acks.push(self.js.send_publish(subject, message).await?);
        }
        let (cursor, newest) = batch
            .last()
            .map(|(c, r)| (*c, Some(r.recorded_at)))
            .unwrap_or((end.cursor, None));
        Ok(Flight {
            acks,
            after: end.last_sequence,
            end: StreamEnd {
                cursor,
                last_sequence: end.last_sequence + batch.len() as u64,
            },
            newest,
        })
    }

    /// Records the cursor in Postgres too, for operators (the stream is the
    /// cursor of record), when it moved and at most every [`SAVE_EVERY`].
    async fn save_cursor(
        &self,
        cursor: CommitCursor,
        saved: &mut (Instant, Option<CommitCursor>),
    ) -> sqlx::Result<()> {
        if saved.1 == Some(cursor) || saved.0.elapsed() < SAVE_EVERY {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO relay_cursors (stream, tx_id, position) VALUES ($1, $2::text::xid8, $3) \
             ON CONFLICT (stream) DO UPDATE SET tx_id = EXCLUDED.tx_id, position = EXCLUDED.position",
        )
        .bind(self.names.stream())
        .bind(cursor.tx_id.to_string())
        .bind(cursor.position)
        .execute(&self.pool)
        .await?;
        *saved = (Instant::now(), Some(cursor));
        Ok(())
    }
}

#[async_trait]
impl Attempt for Relay {
    async fn attempt(
        &self,
        leader: Option<&mut PgConnection>,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<Stop> {
        let leader = leader.context("the relay runs only as the leader")?;
        tracing::info!(stream = %self.names.stream(), "relay is publishing");
        let stream = ensure_stream(&self.js, &self.names).await?;
        self.lead(&stream, leader, shutdown).await
    }
}

/// The advisory lock the relay holds while asleep (see `notify_events_appended`
/// in migrations/).
const ASLEEP_LOCK: &str = "comics-relay-asleep";

async fn try_lock(db: &mut sqlx::PgConnection, key: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
        .bind(key)
        .fetch_one(db)
        .await
}

async fn unlock(db: &mut sqlx::PgConnection, key: &str) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_advisory_unlock(hashtextextended($1, 0))")
        .bind(key)
        .execute(db)
        .await
        .map(|_| ())
}

/// Waits, with nothing releasable after `end`, until there may be: if
/// events exist that an older, still open transaction holds back, polls
/// soon (`backoff`, doubling); else falls asleep until an append NOTIFYs,
/// [`IDLE_POLL`] passes or `shutdown`.
async fn wait(
    leader: &mut sqlx::PgConnection,
    listener: &mut PgListener,
    end: CommitCursor,
    backoff: &mut Duration,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    if any_after(&mut *leader, end).await? {
        pause(backoff, shutdown).await;
        return Ok(());
    }
    // Else fall asleep, holding the "asleep" lock: appends NOTIFY only
    // while it is held (a NOTIFY serialises committing transactions,
    // so under load, when the relay is awake, none is sent). It can
    // only be taken when no append is in flight, and every append
    // after that NOTIFYs; so a look after taking it sees every append
    // that will not wake us.
    if !try_lock(leader, ASLEEP_LOCK).await? {
        // An append is in flight: it is about to commit, or a slow
        // client holds it open; poll with the same backoff (each
        // poll reads pg_locks, which every starting writer waits on).
        pause(backoff, shutdown).await;
        return Ok(());
    }
    if any_after(&mut *leader, end).await? {
        unlock(leader, ASLEEP_LOCK).await?;
        return Ok(());
    }
    tokio::select! {
        _ = shutdown.cancelled() => {}
        n = listener.recv() => { n?; }
        _ = tokio::time::sleep(IDLE_POLL) => {}
    }
    unlock(leader, ASLEEP_LOCK).await?;
    Ok(())
}

/// Doubles `backoff` (up to 50 ms) and sleeps that long, or until `shutdown`.
async fn pause(backoff: &mut Duration, shutdown: &CancellationToken) {
    *backoff = (*backoff * 2).min(Duration::from_millis(50));
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = tokio::time::sleep(*backoff) => {}
    }
}

/// Reads where the stream ends from its last message's headers.
pub async fn stream_end(stream: &stream::Stream) -> anyhow::Result<StreamEnd> {
    let info = stream.get_info().await.context("cannot read stream info")?;
    let last_sequence = info.state.last_sequence;
    if last_sequence == 0 {
        return Ok(StreamEnd::default());
    }
    let message = stream
        .get_raw_message(last_sequence)
        .await
        .with_context(|| format!("cannot read stream message {last_sequence}"))?;
    let header = |name: &str| -> anyhow::Result<i64> {
        message
            .headers
            .get(name)
            .with_context(|| format!("stream message {last_sequence} has no {name} header"))?
            .as_str()
            .parse()
            .with_context(|| format!("stream message {last_sequence} has a bad {name} header"))
    };
    Ok(StreamEnd {
        cursor: CommitCursor {
            tx_id: header(TX_ID_HEADER)?,
            position: header(POSITION_HEADER)?,
        },
        last_sequence,
    })
}
