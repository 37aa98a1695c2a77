//! Runs one projector against the events stream: an ordered consumer (see
//! `comics_nats::worker`) whose position of record is the projection's
//! checkpoint, committed with its rows by [`apply_batch_through`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_nats::jetstream::{self, consumer::PullConsumer};
use async_trait::async_trait;
use comics_nats::worker::ordered::{self, Batching, Delivered, OrderedConsumer};
use comics_nats::{stream::ensure_stream, EventRecord, Names};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use super::{apply_batch_through, ensure_schema, read_checkpoint, CheckpointBehind, Projector};

/// The most messages per transaction: under a trickle of writes a batch
/// holds what arrived within [`LINGER`]; far behind (a rebuild's catch-up,
/// after an outage), each holds this many.
const BATCH: usize = 1024;
/// How long a batch waits for more messages after its first: under a
/// trickle of writes, one transaction (and one change announcement) per few
/// events instead of per event, for at most this much more lag.
const LINGER: Duration = Duration::from_millis(15);
/// How long the checkpoint may stay behind messages the projector skips.
const SKIPPED_SAVE: Duration = Duration::from_secs(1);

/// Runs one projector against the stream until shutdown.
pub struct ProjectorRunner {
    pub projector: Arc<dyn Projector>,
    /// The projection's query store.
    pub pool: PgPool,
    pub js: jetstream::Context,
    pub names: Names,
}

/// The checkpoint this runner committed last, and when.
pub struct Saved {
    at: u64,
    when: Instant,
}

impl ProjectorRunner {
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        ordered::run(&self, &shutdown).await;
        Ok(())
    }

    /// Applies `events`, moving the checkpoint through `through`, retrying
    /// in place (the consumer stays) until it commits.
    async fn apply_with_retry(
        &self,
        events: &[(Option<u64>, EventRecord)],
        through: u64,
        saved: &mut Saved,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let info = self.projector.info();
        let mut backoff = Duration::from_millis(50);
        loop {
            let applied = apply_batch_through(
                &self.pool,
                self.projector.as_ref(),
                info.schema,
                events,
                through,
                saved.at,
            );
            match applied.await {
                Ok(checkpoint) => {
                    *saved = Saved {
                        at: checkpoint,
                        when: Instant::now(),
                    };
                    return Ok(());
                }
                // Not to be retried: delivery restarts from the checkpoint.
                Err(e) if e.is::<CheckpointBehind>() => return Err(e),
                Err(e) => {
                    tracing::error!(
                        projection = info.name,
                        error = format!("{e:#}"),
                        "cannot apply batch; retrying"
                    );
                    tokio::select! {
                        _ = shutdown.cancelled() => anyhow::bail!("shut down while retrying"),
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}

#[async_trait]
impl OrderedConsumer for ProjectorRunner {
    type Session = Saved;

    fn name(&self) -> String {
        format!("projector {}", self.projector.info().name)
    }

    fn batching(&self) -> Batching {
        Batching {
            max: BATCH,
            linger: LINGER,
            may_start_later: false,
            idle_after: Some(SKIPPED_SAVE),
        }
    }

    async fn resume(&self) -> anyhow::Result<(u64, Saved)> {
        let info = self.projector.info();
        ensure_schema(&self.pool, self.projector.as_ref(), info.schema).await?;
        let at = read_checkpoint(&self.pool, info.schema).await?;
        Ok((
            at,
            Saved {
                at,
                when: Instant::now(),
            },
        ))
    }

    async fn consumer(&self, start: u64) -> anyhow::Result<PullConsumer> {
        let name = self.projector.info().name;
        let stream = ensure_stream(&self.js, &self.names).await?;
        let _ = stream.delete_consumer(name).await;
        let config = self.names.projector_consumer(name, start)?;
        stream
            .create_consumer(config)
            .await
            .with_context(|| format!("cannot create consumer {name}"))
    }

    /// Applies the events of the projector's aggregate types; messages of
    /// other types are neither parsed nor applied, and the checkpoint passes
    /// them with the next batch that applies something, or after
    /// [`SKIPPED_SAVE`] at the latest.
    async fn commit(
        &self,
        saved: &mut Saved,
        batch: &[Delivered<'_>],
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let types = self.projector.info().aggregate_types;
        let mut events = Vec::with_capacity(batch.len());
        for d in batch {
            let wanted = self
                .names
                .event_type_of(&d.message.subject)
                .is_none_or(|t| types.contains(&t));
            if wanted {
                let record: EventRecord = serde_json::from_slice(&d.message.payload)
                    .with_context(|| format!("stream message {} is not an event record", d.seq))?;
                events.push((Some(d.seq), record));
            }
        }
        let delivered = batch.last().map_or(saved.at, |d| d.seq);
        if !events.is_empty() || (delivered > saved.at && saved.when.elapsed() >= SKIPPED_SAVE) {
            self.apply_with_retry(&events, delivered, saved, shutdown)
                .await?;
        }
        Ok(())
    }

    /// Quiet after skipped messages: records that they are passed.
    async fn idle(
        &self,
        saved: &mut Saved,
        delivered: u64,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        if delivered > saved.at {
            self.apply_with_retry(&[], delivered, saved, shutdown)
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod send_checks {
    use super::*;
    fn is_send<T: Send>(_: T) {}
    #[allow(dead_code)]
    fn futures_are_send(r: ProjectorRunner, t: CancellationToken) {
        is_send(r.run(t));
    }
}
