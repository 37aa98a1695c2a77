//! The view recorder: reads accepted views in stream order and records them
//! as one `ViewsRecorded` event per comic per batch, then acknowledges the
//! batch. Each view carries its stream sequence and the Popularity aggregate
//! skips sequences it has recorded, so a batch redelivered after a crash
//! (recorded, not yet acknowledged) is not counted twice. Delivery restarts
//! after the acknowledged floor whenever anything goes wrong, so views are
//! always recorded in order.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::{self, consumer::PullConsumer};
use chrono::{DateTime, Utc};
use comics_domain::{PopularityCommand, View};
use comics_nats::stream::ensure_views_stream;
use comics_nats::Names;
use futures::{FutureExt, StreamExt};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::bus::{execute, Stores};

const CONSUMER: &str = "view-recorder";
const BATCH: usize = 5000;

pub struct ViewRecorder {
    pub js: jetstream::Context,
    pub names: Names,
    pub stores: Arc<Stores>,
}

impl ViewRecorder {
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        loop {
            match self.consume(&shutdown).await {
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

    /// (Re)creates the consumer to deliver from just after the acknowledged floor.
    async fn consumer(&self) -> anyhow::Result<(PullConsumer, u64)> {
        let stream = ensure_views_stream(&self.js, &self.names).await?;
        let start = match stream.consumer_info(CONSUMER).await {
            Ok(info) => info.ack_floor.stream_sequence + 1,
            Err(_) => 1,
        };
        let _ = stream.delete_consumer(CONSUMER).await;
        let consumer = stream
            .create_consumer(self.names.recorder_consumer(start)?)
            .await
            .context("cannot create the view recorder's consumer")?;
        Ok((consumer, start))
    }

    async fn consume(&self, shutdown: &CancellationToken) -> anyhow::Result<()> {
        let (consumer, start) = self.consumer().await?;
        let mut messages = consumer.messages().await?;
        // The first delivery may be past `start` when older views expired
        // from the stream (or it was purged): that is where delivery begins.
        // Later, any jump is a redelivery out of turn.
        let mut expected: Option<u64> = None;
        loop {
            let first = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                m = messages.next() => m.context("the views consumer ended")??,
            };
            let mut batch = vec![first];
            while batch.len() < BATCH {
                match messages.next().now_or_never() {
                    Some(Some(m)) => batch.push(m?),
                    _ => break,
                }
            }
            let mut by_comic: BTreeMap<Uuid, Vec<View>> = BTreeMap::new();
            for message in &batch {
                let info = message.info().map_err(|e| anyhow::anyhow!("{e}"))?;
                let seq = info.stream_sequence;
                let want = expected.unwrap_or(seq.max(start));
                if seq < want {
                    continue;
                }
                anyhow::ensure!(
                    seq == want,
                    "views delivered out of turn (expected {want}, got {seq})"
                );
                expected = Some(seq + 1);
                let Some(comic_id) = message
                    .subject
                    .rsplit('.')
                    .next()
                    .and_then(|s| s.parse().ok())
                else {
                    tracing::warn!(subject = %message.subject, "skipping a view with no comic id");
                    continue;
                };
                let at = DateTime::<Utc>::from_timestamp(
                    info.published.unix_timestamp(),
                    info.published.nanosecond(),
                )
                .unwrap_or_else(Utc::now);
                by_comic.entry(comic_id).or_default().push(View { seq, at });
            }
            for (comic_id, views) in by_comic {
                self.record(comic_id, views).await?;
            }
            if let Some(last) = batch.last() {
                last.ack()
                    .await
                    .map_err(|e| anyhow::anyhow!("ack failed: {e}"))?;
            }
        }
    }

    async fn record(&self, comic_id: Uuid, views: Vec<View>) -> anyhow::Result<()> {
        let (first, last) = (views.first().map(|v| v.seq), views.last().map(|v| v.seq));
        let metadata = HashMap::from([
            ("actor".to_string(), "system:view-recorder".to_string()),
            (
                "request_id".to_string(),
                format!("views:{}-{}", first.unwrap_or(0), last.unwrap_or(0)),
            ),
        ]);
        let command = PopularityCommand::RecordViews { comic_id, views };
        let s = &self.stores;
        execute(
            &s.popularity,
            &(),
            &comic_id.to_string(),
            command,
            &metadata,
            None,
        )
        .await
        .map_err(|e| anyhow::anyhow!("cannot record views of {comic_id}: {e:?}"))?;
        Ok(())
    }
}
