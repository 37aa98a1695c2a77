//! The sealer: follows the events stream (message n is the n-th event in
//! commit order, as the relay publishes it) and writes each event's seal to
//! `audit_seals`, a batch per transaction, with the stream sequence it has
//! reached; it publishes the chain's head after every [`HEAD_EVERY`] seals
//! and when the stream has been quiet for a moment.
//!
//! It keeps the rules of [`crate::worker`]: one sealer runs at a time (an
//! advisory lock), it resumes after the last stored seal (its
//! `stream_sequence`), it seals only in turn (a message out of turn restarts
//! delivery), and a batch is acknowledged only once its seals are committed.
//! A process killed anywhere leaves no gap and no double seal: the seals
//! and the position they reach commit together, and `chain_index` is the
//! primary key. Commands never wait for it.

use std::time::{Duration, Instant};

use anyhow::Context;
use async_nats::jetstream::{self, consumer::PullConsumer};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use comics_eventlog::audit::chain::{self, Seal, GENESIS};
use comics_eventlog::EventRecord;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use super::heads::{self, Head, HEAD_EVERY};
use crate::relay::TX_ID_HEADER;
use crate::stream::{ensure_audit_heads_stream, ensure_stream, Names};
use crate::worker::ordered::{self, Batching, Delivered, OrderedConsumer};
use crate::worker::Leadership;

/// The sealer's durable consumer on the events stream.
const CONSUMER: &str = "audit-sealer";
/// A head is published at least this often while seals are being written.
const HEAD_INTERVAL: Duration = Duration::from_secs(2);

pub struct Sealer {
    pub pool: PgPool,
    pub js: jetstream::Context,
    pub names: Names,
}

/// Where the chain ends, and the last head published.
pub struct Chain {
    index: i64,
    seal: Seal,
    /// The highest `recorded_at` of the chain so far (stored with each
    /// seal, for the audit's `since`: see migrations/…_audit_since.sql).
    recorded_max: Option<DateTime<Utc>>,
    last: Option<Head>,
    published: i64,
    published_at: Instant,
}

impl Chain {
    /// The chain ending at `index` with `seal`, `last` the head to publish.
    fn at(index: i64, seal: Seal, recorded_max: Option<DateTime<Utc>>, last: Option<Head>) -> Self {
        Self {
            index,
            seal,
            recorded_max,
            last,
            published: 0,
            published_at: Instant::now(),
        }
    }

    /// The chain ending at the stored seal `last` (its `seal`, read).
    fn after(last: LastSeal, seal: Seal, recorded_max: Option<DateTime<Utc>>) -> Self {
        // The last seal's head is published again when the stream is next
        // quiet (a crash may have come between its commit and its head; a
        // head published twice keeps its first message).
        let head = Head {
            chain_index: last.chain_index,
            position: last.position,
            aggregate_type: last.aggregate_type,
            aggregate_id: last.aggregate_id,
            sequence: last.sequence,
            seal: chain::hex(&seal),
            published_at: chrono::Utc::now(),
        };
        Self::at(last.chain_index, seal, recorded_max, Some(head))
    }
}

impl Sealer {
    /// Runs until `shutdown`; one sealer per stream seals at a time.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        ordered::run(&self, &shutdown).await;
        Ok(())
    }

    async fn publish_head(&self, chain: &mut Chain) -> anyhow::Result<()> {
        let Some(head) = &chain.last else {
            return Ok(());
        };
        if head.chain_index == chain.published {
            return Ok(());
        }
        let head = Head {
            published_at: chrono::Utc::now(),
            ..head.clone()
        };
        heads::publish(&self.js, &self.names, &head).await?;
        chain.published = head.chain_index;
        chain.published_at = Instant::now();
        Ok(())
    }
}

#[async_trait]
impl OrderedConsumer for Sealer {
    type Session = Chain;

    fn name(&self) -> String {
        "audit sealer".into()
    }

    fn batching(&self) -> Batching {
        Batching {
            max: 1024,
            linger: Duration::from_millis(20),
            may_start_later: false,
            idle_after: Some(Duration::from_millis(500)),
        }
    }

    fn leadership(&self) -> Option<Leadership> {
        Some(Leadership {
            pool: self.pool.clone(),
            key: format!("comics-audit-sealer:{}", self.names.stream()),
        })
    }

    async fn resume(&self) -> anyhow::Result<(u64, Chain)> {
        ensure_audit_heads_stream(&self.js, &self.names).await?;
        let last: Option<LastSeal> = sqlx::query_as(
            "SELECT chain_index, seal, stream_sequence, position, aggregate_type, aggregate_id, \
                    sequence, recorded_max \
             FROM audit_seals ORDER BY chain_index DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        let Some(mut last) = last else {
            return Ok((0, Chain::at(0, GENESIS, None, None)));
        };
        let seal: Seal = std::mem::take(&mut last.seal)
            .try_into()
            .map_err(|_| anyhow::anyhow!("audit seal {} is not 32 bytes", last.chain_index))?;
        // Sealed by a version that did not keep the maximum: the log's
        // newest `recorded_at` is at least the chain's, and a maximum stored
        // too high is safe (see the migration).
        let recorded_max = match last.recorded_max {
            Some(at) => Some(at),
            None => {
                sqlx::query_scalar("SELECT max(recorded_at) FROM events")
                    .fetch_one(&self.pool)
                    .await?
            }
        };
        let stream_sequence = last.stream_sequence as u64;
        Ok((stream_sequence, Chain::after(last, seal, recorded_max)))
    }

    async fn consumer(&self, start: u64) -> anyhow::Result<PullConsumer> {
        let stream = ensure_stream(&self.js, &self.names).await?;
        let _ = stream.delete_consumer(CONSUMER).await;
        stream
            .create_consumer(self.names.projector_consumer(CONSUMER, start)?)
            .await
            .context("cannot create the audit sealer's consumer")
    }

    async fn commit(
        &self,
        chain: &mut Chain,
        batch: &[Delivered<'_>],
        _shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let mut rows = Rows::default();
        let (mut index, mut seal) = (chain.index, chain.seal);
        let mut recorded_max = chain.recorded_max;
        let mut last = None;
        for d in batch {
            let event: EventRecord = serde_json::from_slice(&d.message.payload)
                .with_context(|| format!("events stream message {} is not an event", d.seq))?;
            let tx_id = d
                .message
                .headers
                .as_ref()
                .and_then(|h| h.get(TX_ID_HEADER))
                .with_context(|| format!("events stream message {} has no {TX_ID_HEADER}", d.seq))?
                .as_str()
                .to_string();
            index += 1;
            seal = chain::seal(&seal, &event);
            let max = recorded_max.map_or(event.recorded_at, |m| m.max(event.recorded_at));
            recorded_max = Some(max);
            rows.push(index, tx_id, &event, &seal, d.seq, max);
            last = Some(Head {
                chain_index: index,
                position: event.position,
                aggregate_type: event.aggregate_type,
                aggregate_id: event.aggregate_id,
                sequence: event.sequence,
                seal: chain::hex(&seal),
                published_at: chrono::Utc::now(),
            });
        }
        rows.insert(&self.pool).await?;
        (chain.index, chain.seal, chain.recorded_max) = (index, seal, recorded_max);
        if last.is_some() {
            chain.last = last;
        }
        if chain.index - chain.published >= HEAD_EVERY
            || chain.published_at.elapsed() >= HEAD_INTERVAL
        {
            self.publish_head(chain).await?;
        }
        Ok(())
    }

    async fn idle(
        &self,
        chain: &mut Chain,
        _delivered: u64,
        _shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        self.publish_head(chain).await
    }
}

/// A batch of seal rows, column by column (one `INSERT … SELECT unnest`).
#[derive(Default)]
struct Rows {
    index: Vec<i64>,
    tx_id: Vec<String>,
    position: Vec<i64>,
    aggregate_type: Vec<String>,
    aggregate_id: Vec<String>,
    sequence: Vec<i64>,
    seal: Vec<Vec<u8>>,
    stream_sequence: Vec<i64>,
    recorded_max: Vec<DateTime<Utc>>,
    // What the audit filters read (migrations/…_audit_filters_on_seals.sql).
    event_type: Vec<String>,
    actor: Vec<Option<String>>,
    recorded_at: Vec<DateTime<Utc>>,
}

/// The newest stored seal.
#[derive(sqlx::FromRow)]
struct LastSeal {
    chain_index: i64,
    seal: Vec<u8>,
    stream_sequence: i64,
    position: i64,
    aggregate_type: String,
    aggregate_id: String,
    sequence: i64,
    recorded_max: Option<DateTime<Utc>>,
}

impl Rows {
    fn push(
        &mut self,
        index: i64,
        tx_id: String,
        event: &EventRecord,
        seal: &Seal,
        seq: u64,
        recorded_max: DateTime<Utc>,
    ) {
        self.recorded_max.push(recorded_max);
        self.index.push(index);
        self.tx_id.push(tx_id);
        self.position.push(event.position);
        self.aggregate_type.push(event.aggregate_type.clone());
        self.aggregate_id.push(event.aggregate_id.clone());
        self.sequence.push(event.sequence);
        self.seal.push(seal.to_vec());
        self.stream_sequence.push(seq as i64);
        self.event_type.push(event.event_type.clone());
        self.actor.push(
            event
                .metadata
                .get("actor")
                .and_then(|a| a.as_str())
                .map(str::to_string),
        );
        self.recorded_at.push(event.recorded_at);
    }

    async fn insert(&self, pool: &PgPool) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO audit_seals (chain_index, tx_id, position, aggregate_type, aggregate_id, \
                                      sequence, seal, stream_sequence, recorded_max, \
                                      event_type, actor, recorded_at) \
             SELECT i, t::xid8, p, at, ai, s, h, ss, rm, et, ac, ra \
             FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[], \
                         $6::bigint[], $7::bytea[], $8::bigint[], $9::timestamptz[], \
                         $10::text[], $11::text[], $12::timestamptz[]) \
                  AS r(i, t, p, at, ai, s, h, ss, rm, et, ac, ra)",
        )
        .bind(&self.index)
        .bind(&self.tx_id)
        .bind(&self.position)
        .bind(&self.aggregate_type)
        .bind(&self.aggregate_id)
        .bind(&self.sequence)
        .bind(&self.seal)
        .bind(&self.stream_sequence)
        .bind(&self.recorded_max)
        .bind(&self.event_type)
        .bind(&self.actor)
        .bind(&self.recorded_at)
        .execute(pool)
        .await?;
        Ok(())
    }
}
