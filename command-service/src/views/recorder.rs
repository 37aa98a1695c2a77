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

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::{self, consumer::PullConsumer};
use chrono::{DateTime, Utc};
use comics_domain::{Popularity, PopularityCommand, View};
use comics_nats::stream::ensure_views_stream;
use comics_nats::Names;
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use futures::StreamExt;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::batch::{seen_key, ViewBatch};
use crate::state::Stores;

const CONSUMER: &str = "view-recorder";
/// The most stream messages recorded in one commit.
const BATCH: usize = 500;
/// How long the first message of a commit waits for others to join it.
const LINGER: Duration = Duration::from_millis(50);
/// One reader's views of one comic count at most once in this long.
const WINDOW_MS: i64 = 10 * 60 * 1000;

pub struct ViewRecorder {
    pub js: jetstream::Context,
    pub names: Names,
    pub stores: Arc<Stores>,
    pub pool: PgPool,
}

/// Which reader of which comic last counted, and when (ms since the epoch).
#[derive(Default)]
struct Counted {
    at: HashMap<u128, i64>,
    newest: i64,
}

impl Counted {
    /// Whether a view by `key` at `at` counts; remembers it if it does.
    fn counts(&mut self, key: u128, at: i64) -> bool {
        self.newest = self.newest.max(at);
        match self.at.get(&key) {
            Some(last) if at - last < WINDOW_MS => false,
            _ => {
                self.at.insert(key, at);
                true
            }
        }
    }

    /// Forgets what can no longer matter.
    fn prune(&mut self) {
        let horizon = self.newest - WINDOW_MS;
        self.at.retain(|_, at| *at > horizon);
    }
}

/// One commit's worth: views per comic, and the readers counted per message.
#[derive(Default)]
struct Pending {
    views: BTreeMap<Uuid, Vec<View>>,
    counted: Vec<(i64, DateTime<Utc>, Vec<u8>)>,
    last: u64,
}

impl ViewRecorder {
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let key = format!("comics-view-recorder:{}", self.names.views_stream());
        loop {
            let leader = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                l = comics_nats::leader::acquire(&self.pool, &key) => l,
            };
            let result = match leader {
                Ok(lock) => {
                    tracing::info!("view recorder is recording");
                    let r = self.consume(&shutdown).await;
                    drop(lock);
                    r
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => return Ok(()),
                Err(e) => {
                    tracing::warn!(
                        error = format!("{e:#}"),
                        "view recorder interrupted; resuming"
                    );
                    tokio::select! {
                        _ = shutdown.cancelled() => return Ok(()),
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                }
            }
        }
    }

    /// (Re)creates the consumer to deliver from just after `recorded`.
    async fn consumer(&self, recorded: u64) -> anyhow::Result<PullConsumer> {
        let stream = ensure_views_stream(&self.js, &self.names).await?;
        let _ = stream.delete_consumer(CONSUMER).await;
        stream
            .create_consumer(self.names.recorder_consumer(recorded + 1)?)
            .await
            .context("cannot create the view recorder's consumer")
    }

    async fn recorded(&self) -> anyhow::Result<(u64, Counted)> {
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
            let at = at.timestamp_millis();
            counted.newest = counted.newest.max(at);
            for key in readers.chunks_exact(16) {
                let key = u128::from_be_bytes(key.try_into().expect("16 bytes"));
                counted.at.insert(key, at);
            }
        }
        Ok((seq.unwrap_or(0) as u64, counted))
    }

    async fn consume(&self, shutdown: &CancellationToken) -> anyhow::Result<()> {
        let (mut recorded, mut counted) = self.recorded().await?;
        let consumer = self.consumer(recorded).await?;
        let mut messages = consumer.messages().await?;
        // The first delivery may be past `recorded + 1` when older views
        // expired from the stream: that is where delivery begins. Later, any
        // jump is a redelivery out of turn.
        let mut expected: Option<u64> = None;
        let mut commits = 0u64;
        loop {
            let first = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                m = messages.next() => m.context("the views consumer ended")??,
            };
            // Whatever arrives within LINGER joins the commit: one commit
            // (and one event per comic) per LINGER under load, not one per
            // message.
            let deadline = tokio::time::Instant::now() + LINGER;
            let mut batch = vec![first];
            while batch.len() < BATCH {
                match tokio::time::timeout_at(deadline, messages.next()).await {
                    Ok(Some(m)) => batch.push(m?),
                    Ok(None) | Err(_) => break,
                }
            }
            let mut pending = Pending::default();
            for message in &batch {
                let info = message.info().map_err(|e| anyhow::anyhow!("{e}"))?;
                let seq = info.stream_sequence;
                if seq <= recorded {
                    continue;
                }
                let want = expected.unwrap_or(seq);
                anyhow::ensure!(
                    seq == want,
                    "views delivered out of turn (expected {want}, got {seq})"
                );
                expected = Some(seq + 1);
                pending.last = seq;
                let at = DateTime::<Utc>::from_timestamp(
                    info.published.unix_timestamp(),
                    info.published.nanosecond(),
                )
                .unwrap_or_else(Utc::now);
                let views: ViewBatch = match serde_json::from_slice(&message.payload) {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::warn!(seq, error = %e, "skipping a views message that is not a batch");
                        continue;
                    }
                };
                let ms = at.timestamp_millis();
                let mut keys = Vec::new();
                for (comic_id, readers) in views.comics {
                    let mut count = 0u64;
                    for reader in readers {
                        let key = seen_key(comic_id, &reader);
                        if counted.counts(key, ms) {
                            keys.extend_from_slice(&key.to_be_bytes());
                            count += 1;
                        }
                    }
                    if count > 0 {
                        pending
                            .views
                            .entry(comic_id)
                            .or_default()
                            .push(View { seq, at, count });
                    }
                }
                if !keys.is_empty() {
                    pending.counted.push((seq as i64, at, keys));
                }
            }
            if pending.last > recorded {
                commits += 1;
                self.commit(recorded, &pending, commits.is_multiple_of(64))
                    .await?;
                recorded = pending.last;
                if commits.is_multiple_of(64) {
                    counted.prune();
                }
            }
            if let Some(last) = batch.last() {
                last.ack()
                    .await
                    .map_err(|e| anyhow::anyhow!("ack failed: {e}"))?;
            }
        }
    }

    /// Appends the events, the readers counted and the sequence reached, in
    /// one transaction (the events first: see the relay's release rule).
    async fn commit(&self, from: u64, pending: &Pending, prune: bool) -> anyhow::Result<()> {
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
        if !pending.counted.is_empty() {
            let seqs: Vec<i64> = pending.counted.iter().map(|c| c.0).collect();
            let ats: Vec<DateTime<Utc>> = pending.counted.iter().map(|c| c.1).collect();
            let readers: Vec<&[u8]> = pending.counted.iter().map(|c| c.2.as_slice()).collect();
            sqlx::query(
                "INSERT INTO view_counted (stream, stream_sequence, at, readers) \
                 SELECT $1, * FROM unnest($2::bigint[], $3::timestamptz[], $4::bytea[])",
            )
            .bind(&stream)
            .bind(&seqs)
            .bind(&ats)
            .bind(&readers)
            .execute(&mut *tx)
            .await?;
        }
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
            sqlx::query(
                "DELETE FROM view_counted WHERE stream = $1 \
                 AND at < (SELECT max(at) FROM view_counted WHERE stream = $1) - interval '11 minutes'",
            )
            .bind(&stream)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        store.keep_all(appended);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn a_reader_counts_once_per_ten_minutes_from_the_view_that_counted() {
        let mut c = Counted::default();
        assert!(c.counts(1, 0));
        assert!(!c.counts(1, MIN));
        // A view that did not count does not move the window.
        assert!(!c.counts(1, 9 * MIN));
        assert!(c.counts(1, 10 * MIN));
        assert!(!c.counts(1, 19 * MIN + 59_999));
        assert!(c.counts(1, 20 * MIN));
    }

    #[test]
    fn readers_and_comics_are_judged_apart_and_pruning_keeps_the_window() {
        let mut c = Counted::default();
        assert!(c.counts(1, 0));
        assert!(c.counts(2, 0));
        assert!(c.counts(3, 5 * MIN));
        c.prune();
        assert_eq!(c.at.len(), 3, "nothing is older than the window yet");
        assert!(c.counts(4, 11 * MIN));
        c.prune();
        assert_eq!(c.at.len(), 2, "the views at 0 can no longer matter");
        assert!(!c.counts(3, 14 * MIN));
        assert!(c.counts(1, 14 * MIN));
    }
}
