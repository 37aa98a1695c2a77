//! Runs projectors against the events stream: one ordered consumer (see
//! `comics_nats::worker`) feeding a group of projectors whose query stores
//! share a database. Each batch of messages is applied to every projector of
//! the group in one transaction, each projector's rows with its own
//! checkpoint ([`apply_through`]), so the group wakes once per batch and
//! commits once, where a consumer per projector woke and committed once
//! each. Each projector's checkpoint stays its position of record: the
//! consumer delivers from just after the lowest, and a projector skips what
//! its own checkpoint has passed. What a projector does outside the
//! transaction ([`Projector::prepare`]: the thumbnails' rendering) is done
//! before it opens.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_nats::jetstream::{self, consumer::PullConsumer};
use async_trait::async_trait;
use comics_eventlog::EventRecord;
use comics_nats::worker::ordered::{self, Batching, Delivered, OrderedConsumer};
use comics_nats::{stream::ensure_stream, Names};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use super::{apply_through, begin, ensure_schema, read_checkpoint, CheckpointBehind, Projector};

/// The most messages per transaction: under a trickle of writes a batch
/// holds what arrived within [`LINGER`]; far behind (a rebuild's catch-up,
/// after an outage), each holds this many.
const BATCH: usize = 1024;
/// How long a batch waits for more messages after its first: under a
/// trickle of writes, one transaction (and one change announcement) per few
/// events instead of per event, for at most this much more lag.
const LINGER: Duration = Duration::from_millis(15);
/// How long a checkpoint may stay behind messages its projector skips.
const SKIPPED_SAVE: Duration = Duration::from_secs(1);

/// Runs a group of projectors against the stream until shutdown.
pub struct ProjectorRunner {
    /// Applied in this order in each transaction (so two runners never lock
    /// the same checkpoints in two orders). Every store is in `pool`.
    pub projectors: Vec<Arc<dyn Projector>>,
    /// The database of the projections' query stores.
    pub pool: PgPool,
    pub js: jetstream::Context,
    pub names: Names,
}

/// The checkpoint a projector of the group committed last, and when.
#[derive(Clone, Copy)]
pub struct Saved {
    at: u64,
    when: Instant,
}

/// Groups `stores` (each projector with its query store's database URL and
/// pool) into runners: one per database.
pub fn group(
    stores: Vec<(Arc<dyn Projector>, String, PgPool)>,
    js: &jetstream::Context,
    names: &Names,
) -> Vec<ProjectorRunner> {
    let mut runners: Vec<(String, ProjectorRunner)> = Vec::new();
    for (projector, url, pool) in stores {
        match runners.iter_mut().find(|(k, _)| *k == url) {
            Some((_, runner)) => runner.projectors.push(projector),
            None => runners.push((
                url,
                ProjectorRunner {
                    projectors: vec![projector],
                    pool,
                    js: js.clone(),
                    names: names.clone(),
                },
            )),
        }
    }
    runners.into_iter().map(|(_, r)| r).collect()
}

impl ProjectorRunner {
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        ordered::run(&self, &shutdown).await;
        Ok(())
    }

    /// The names of the group's projections, joined with `sep`.
    fn joined(&self, sep: &str) -> String {
        let names: Vec<&str> = self.projectors.iter().map(|p| p.info().name).collect();
        names.join(sep)
    }

    /// The durable consumer's name: the projection's own for a projector
    /// alone, else `projectors-` and the group's names.
    fn consumer_name(&self) -> String {
        match self.projectors.as_slice() {
            [one] => one.info().name.to_string(),
            _ => format!("projectors-{}", self.joined("-")),
        }
    }

    /// Applies `events` (each projector takes those of its aggregate types)
    /// in one transaction: a projector whose `due` is set moves its
    /// checkpoint through `through`. Retries in place (the consumer stays)
    /// until it commits.
    async fn apply_with_retry(
        &self,
        events: &[(Option<u64>, EventRecord)],
        due: &[bool],
        through: u64,
        saved: &mut [Saved],
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let mut backoff = Duration::from_millis(50);
        loop {
            match self.apply_once(events, due, through, saved).await {
                Ok(()) => return Ok(()),
                // Not to be retried: delivery restarts from the checkpoints.
                Err(e) if e.is::<CheckpointBehind>() => return Err(e),
                Err(e) => {
                    tracing::error!(
                        projections = self.joined(","),
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

    async fn apply_once(
        &self,
        events: &[(Option<u64>, EventRecord)],
        due: &[bool],
        through: u64,
        saved: &mut [Saved],
    ) -> anyhow::Result<()> {
        for (i, projector) in self.projectors.iter().enumerate() {
            if due[i] {
                let types = projector.info().aggregate_types;
                let wanted: Vec<&EventRecord> = events
                    .iter()
                    .map(|(_, e)| e)
                    .filter(|e| types.contains(&e.aggregate_type.as_str()))
                    .collect();
                projector.prepare(&wanted).await.with_context(|| {
                    format!("projection {} cannot prepare", projector.info().name)
                })?;
            }
        }
        let mut tx = begin(&self.pool).await?;
        let mut committed = Vec::with_capacity(self.projectors.len());
        for (i, projector) in self.projectors.iter().enumerate() {
            if !due[i] {
                continue;
            }
            let info = projector.info();
            let checkpoint = apply_through(
                &mut tx,
                projector.as_ref(),
                info.schema,
                events,
                through,
                saved[i].at,
            )
            .await
            .with_context(|| format!("projection {}", info.name))?;
            committed.push((i, checkpoint));
        }
        tx.commit().await?;
        let now = Instant::now();
        for (i, at) in committed {
            saved[i] = Saved { at, when: now };
        }
        Ok(())
    }

    /// Which projectors must commit for a batch through `delivered`: those
    /// with events in it, and those whose checkpoint has stayed behind
    /// skipped messages for [`SKIPPED_SAVE`].
    fn due(&self, wanted: &[bool], delivered: u64, saved: &[Saved]) -> Vec<bool> {
        saved
            .iter()
            .zip(wanted)
            .map(|(s, &w)| w || (delivered > s.at && s.when.elapsed() >= SKIPPED_SAVE))
            .collect()
    }
}

#[async_trait]
impl OrderedConsumer for ProjectorRunner {
    type Session = Vec<Saved>;

    fn name(&self) -> String {
        format!("projector {}", self.joined("+"))
    }

    /// Each projection's figures under its own name.
    fn meters(&self) -> Vec<String> {
        self.projectors
            .iter()
            .map(|p| format!("projector {}", p.info().name))
            .collect()
    }

    fn batching(&self) -> Batching {
        Batching {
            max: BATCH,
            linger: LINGER,
            may_start_later: false,
            idle_after: Some(SKIPPED_SAVE),
        }
    }

    /// Delivery resumes after the lowest checkpoint of the group.
    async fn resume(&self) -> anyhow::Result<(u64, Vec<Saved>)> {
        let mut saved = Vec::with_capacity(self.projectors.len());
        for projector in &self.projectors {
            let info = projector.info();
            ensure_schema(&self.pool, projector.as_ref(), info.schema).await?;
            let at = read_checkpoint(&self.pool, info.schema).await?;
            saved.push(Saved {
                at,
                when: Instant::now(),
            });
        }
        let from = saved.iter().map(|s| s.at).min().unwrap_or(0);
        Ok((from, saved))
    }

    async fn consumer(&self, start: u64) -> anyhow::Result<PullConsumer> {
        let name = self.consumer_name();
        let stream = ensure_stream(&self.js, &self.names).await?;
        let _ = stream.delete_consumer(&name).await;
        if self.projectors.len() > 1 {
            // The consumers of a version that ran one per projection.
            for projector in &self.projectors {
                let _ = stream.delete_consumer(projector.info().name).await;
            }
        }
        let config = self.names.projector_consumer(&name, start)?;
        stream
            .create_consumer(config)
            .await
            .with_context(|| format!("cannot create consumer {name}"))
    }

    /// Applies the events of the group's aggregate types; messages of other
    /// types are neither parsed nor applied, and a checkpoint passes them
    /// with the next batch that applies something to its projector, or
    /// after [`SKIPPED_SAVE`] at the latest.
    async fn commit(
        &self,
        saved: &mut Vec<Saved>,
        batch: &[Delivered<'_>],
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let mut wanted = vec![false; self.projectors.len()];
        let mut events = Vec::with_capacity(batch.len());
        for d in batch {
            let kind = self.names.event_type_of(&d.message.subject);
            let mut any = false;
            for (i, projector) in self.projectors.iter().enumerate() {
                let types = projector.info().aggregate_types;
                if kind.is_none_or(|t| types.contains(&t)) {
                    wanted[i] = true;
                    any = true;
                }
            }
            if any {
                let record: EventRecord = serde_json::from_slice(&d.message.payload)
                    .with_context(|| format!("stream message {} is not an event record", d.seq))?;
                events.push((Some(d.seq), record));
            }
        }
        let delivered = batch.last().map_or(0, |d| d.seq);
        let due = self.due(&wanted, delivered, saved);
        if due.contains(&true) {
            self.apply_with_retry(&events, &due, delivered, saved, shutdown)
                .await?;
        }
        Ok(())
    }

    /// Quiet after skipped messages: records that they are passed.
    async fn idle(
        &self,
        saved: &mut Vec<Saved>,
        delivered: u64,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let due: Vec<bool> = saved.iter().map(|s| delivered > s.at).collect();
        if due.contains(&true) {
            self.apply_with_retry(&[], &due, delivered, saved, shutdown)
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
