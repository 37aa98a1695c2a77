//! The view recorder: reads the views stream in order, applies the once per
//! 10 minutes rule, and records what counts as one `ViewsRecorded` event per
//! comic per commit.
//!
//! One recorder runs for all instances (a Postgres advisory lock), so the
//! rule judges every instance's views in one order: the stream's. Its memory
//! (which reader last counted for which comic, and when, by stream time) is
//! kept in `view_counted`, and how far it got in `view_recorder`, both
//! written in the transaction that appends the events. After a crash the
//! recorder reloads that memory, recreates its consumer from the sequence
//! recorded, and decides exactly as it would have: nothing is lost, nothing
//! counted twice, wherever it stopped.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream;
use async_nats::jetstream::consumer::PullConsumer;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use comics_domain::{Popularity, PopularityCommand};
use comics_nats::stream::ensure_views_stream;
use comics_nats::worker::ordered::{self, Batching, Delivered, OrderedConsumer};
use comics_nats::worker::Leadership;
use comics_nats::Names;
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::rule::{Counted, Pending};
use crate::state::Stores;
use crate::store::Append;

const CONSUMER: &str = "view-recorder";
/// The most stream messages recorded in one commit.
const BATCH: usize = 500;
/// How long the first message of a commit waits for others to join it:
/// one commit (and one event per comic) per LINGER under load, not one per
/// message.
const LINGER: Duration = Duration::from_millis(50);
/// How often (in commits) the rule's memory is pruned.
const PRUNE_EVERY: u64 = 64;

pub struct ViewRecorder {
    pub js: jetstream::Context,
    pub names: Names,
    pub stores: Arc<Stores>,
    pub pool: PgPool,
}

/// What the recorder keeps between commits.
pub struct Memory {
    /// The last views message recorded (the position of record).
    recorded: u64,
    counted: Counted,
    commits: u64,
}

impl ViewRecorder {
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        ordered::run(&self, &shutdown).await;
        Ok(())
    }
}

#[async_trait]
impl OrderedConsumer for ViewRecorder {
    type Session = Memory;

    fn name(&self) -> String {
        "view recorder".into()
    }

    fn batching(&self) -> Batching {
        Batching {
            max: BATCH,
            linger: LINGER,
            // Views older than the stream's max age are gone.
            may_start_later: true,
            idle_after: None,
        }
    }

    fn leadership(&self) -> Option<Leadership> {
        Some(Leadership {
            pool: self.pool.clone(),
            key: format!("comics-view-recorder:{}", self.names.views_stream()),
        })
    }

    /// The sequence recorded, and the readers counted in the last 10
    /// minutes before it (the rule's memory).
    async fn resume(&self) -> anyhow::Result<(u64, Memory)> {
        let stream = self.names.views_stream();
        let seq: Option<i64> =
            sqlx::query_scalar("SELECT stream_sequence FROM view_recorder WHERE stream = $1")
                .bind(&stream)
                .fetch_optional(&self.pool)
                .await?;
        let rows: Vec<(DateTime<Utc>, Vec<u8>)> = sqlx::query_as(
            "SELECT at, readers FROM view_counted \
             WHERE stream = $1 AND at > (SELECT max(at) FROM view_counted WHERE stream = $1) - interval '10 minutes' \
             ORDER BY stream_sequence",
        )
        .bind(&stream)
        .fetch_all(&self.pool)
        .await?;
        let mut counted = Counted::default();
        for (at, readers) in rows {
            counted.restore(at.timestamp_millis(), &readers);
        }
        let recorded = seq.unwrap_or(0) as u64;
        tracing::info!(recorded, "view recorder is recording");
        let memory = Memory {
            recorded,
            counted,
            commits: 0,
        };
        Ok((recorded, memory))
    }

    async fn consumer(&self, start: u64) -> anyhow::Result<PullConsumer> {
        let stream = ensure_views_stream(&self.js, &self.names).await?;
        let _ = stream.delete_consumer(CONSUMER).await;
        stream
            .create_consumer(self.names.recorder_consumer(start)?)
            .await
            .context("cannot create the view recorder's consumer")
    }

    async fn commit(
        &self,
        memory: &mut Memory,
        batch: &[Delivered<'_>],
        _shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let pending = Pending::judge(batch, &mut memory.counted)?;
        memory.commits += 1;
        let prune = memory.commits.is_multiple_of(PRUNE_EVERY);
        self.record(memory.recorded, &pending, prune).await?;
        memory.recorded = pending.last;
        if prune {
            memory.counted.prune();
        }
        Ok(())
    }
}

impl ViewRecorder {
    /// Decides a `RecordViews` command on each comic's Popularity, loaded
    /// with one statement: what to append.
    async fn decide(&self, pending: &Pending) -> anyhow::Result<Vec<Append<Popularity>>> {
        let store = &self.stores.popularity;
        let ids: Vec<String> = pending.views.keys().map(Uuid::to_string).collect();
        let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let contexts = store
            .load_many(&self.pool, &id_refs)
            .await
            .map_err(|e| anyhow::anyhow!("cannot load popularity: {e}"))?;
        let mut appends = Vec::new();
        for (mut context, (comic_id, views)) in contexts.into_iter().zip(&pending.views) {
            let sink = EventSink::<Popularity>::default();
            let command = PopularityCommand::RecordViews {
                comic_id: *comic_id,
                views: views.clone(),
            };
            context
                .aggregate
                .handle(command, &(), &sink)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let events = sink.collect().await;
            if !events.is_empty() {
                let metadata = HashMap::from([
                    ("actor".to_string(), "system:view-recorder".to_string()),
                    ("request_id".to_string(), format!("views:{}", pending.last)),
                ]);
                appends.push((context, events, metadata));
            }
        }
        Ok(appends)
    }

    /// Appends the events, the readers counted and the sequence reached, in
    /// one transaction (the events first: see the relay's release rule).
    async fn record(&self, from: u64, pending: &Pending, prune: bool) -> anyhow::Result<()> {
        let store = &self.stores.popularity;
        let appends = self.decide(pending).await?;
        let mut tx = self.pool.begin().await?;
        let appended = if appends.is_empty() {
            Vec::new()
        } else {
            store
                .append_many_in(&mut tx, appends)
                .await
                .map_err(|e| anyhow::anyhow!("cannot record views: {e}"))?
        };
        let stream = self.names.views_stream();
        write_counted(&mut tx, &stream, &pending.counted).await?;
        // Compare and set: a recorder that lost its lock (its connection
        // dropped) while still running cannot record over the new one.
        let moved = sqlx::query(
            "INSERT INTO view_recorder (stream, stream_sequence) VALUES ($1, $2) \
             ON CONFLICT (stream) DO UPDATE SET stream_sequence = EXCLUDED.stream_sequence \
             WHERE view_recorder.stream_sequence = $3",
        )
        .bind(&stream)
        .bind(pending.last as i64)
        .bind(from as i64)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        anyhow::ensure!(
            moved == 1,
            "another view recorder recorded past {from}; starting over"
        );
        if prune {
            prune_counted(&mut tx, &stream).await?;
        }
        tx.commit().await?;
        store.keep_all(appended);
        Ok(())
    }
}

/// Remembers the readers each message counted (the rule's memory).
async fn write_counted(
    tx: &mut sqlx::PgConnection,
    stream: &str,
    counted: &[(i64, DateTime<Utc>, Vec<u8>)],
) -> sqlx::Result<()> {
    if counted.is_empty() {
        return Ok(());
    }
    let seqs: Vec<i64> = counted.iter().map(|c| c.0).collect();
    let ats: Vec<DateTime<Utc>> = counted.iter().map(|c| c.1).collect();
    let readers: Vec<&[u8]> = counted.iter().map(|c| c.2.as_slice()).collect();
    sqlx::query(
        "INSERT INTO view_counted (stream, stream_sequence, at, readers) \
         SELECT $1, * FROM unnest($2::bigint[], $3::timestamptz[], $4::bytea[])",
    )
    .bind(stream)
    .bind(&seqs)
    .bind(&ats)
    .bind(&readers)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Forgets readers counted too long ago to matter.
async fn prune_counted(tx: &mut sqlx::PgConnection, stream: &str) -> sqlx::Result<()> {
    sqlx::query(
        "DELETE FROM view_counted WHERE stream = $1 \
         AND at < (SELECT max(at) FROM view_counted WHERE stream = $1) - interval '11 minutes'",
    )
    .bind(stream)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
