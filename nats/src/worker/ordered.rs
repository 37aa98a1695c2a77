//! A worker over a JetStream stream: the view recorder and every projector.
//! The loop of [`run`] keeps the rules of the parent module; a consumer says
//! only where it stands ([`OrderedConsumer::resume`]), how to deliver from
//! there, and how to commit a batch.

use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::{self, consumer::pull, consumer::PullConsumer};
use async_trait::async_trait;
use futures::StreamExt;
use sqlx::PgConnection;
use tokio_util::sync::CancellationToken;

use super::{supervise, Attempt, Leadership, Stop};

/// The idle heartbeat of a pull request (the client's default).
const PULL_HEARTBEAT: Duration = Duration::from_secs(15);

/// How a consumer's messages are gathered into batches.
#[derive(Debug, Clone, Copy)]
pub struct Batching {
    /// The most messages in one batch.
    pub max: usize,
    /// How long a batch's first message waits for others to join it.
    pub linger: Duration,
    /// Whether the first delivery may start past the stored position, when
    /// the stream has discarded older messages (a stream with a max age).
    pub may_start_later: bool,
    /// After a commit, how long a quiet stream waits before
    /// [`OrderedConsumer::idle`] is called (once).
    pub idle_after: Option<Duration>,
}

/// A message delivered in turn, with its stream sequence.
pub struct Delivered<'a> {
    pub seq: u64,
    pub message: &'a jetstream::Message,
}

#[async_trait]
pub trait OrderedConsumer: Send + Sync {
    /// What an attempt keeps between batches (loaded by `resume`).
    type Session: Send;

    /// For logs.
    fn name(&self) -> String;
    /// The names its metrics are recorded under (`comics_worker_*{worker}`):
    /// its name, or one per part for a consumer that works for several.
    fn meters(&self) -> Vec<String> {
        vec![self.name()]
    }
    fn batching(&self) -> Batching;
    /// When only one instance may run it.
    fn leadership(&self) -> Option<Leadership> {
        None
    }
    /// The position of record (the last stream sequence whose effects are
    /// committed) and whatever else continues from it.
    async fn resume(&self) -> anyhow::Result<(u64, Self::Session)>;
    /// A consumer delivering from stream sequence `start`, recreated so that
    /// it forgets any earlier position.
    async fn consumer(&self, start: u64) -> anyhow::Result<PullConsumer>;
    /// Commits the effects of `batch` (in turn, after everything committed
    /// before) with its position, in one transaction. A consumer that
    /// retries in place gives up when `shutdown` is cancelled.
    async fn commit(
        &self,
        session: &mut Self::Session,
        batch: &[Delivered<'_>],
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()>;
    /// The stream has been quiet since the last commit, which delivered up
    /// to `delivered`.
    async fn idle(
        &self,
        _session: &mut Self::Session,
        _delivered: u64,
        _shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Runs `consumer` until `shutdown` (see the parent module for the rules).
pub async fn run<C: OrderedConsumer>(consumer: &C, shutdown: &CancellationToken) {
    let leadership = consumer.leadership();
    supervise(
        &consumer.name(),
        leadership.as_ref(),
        &Following(consumer),
        shutdown,
    )
    .await
}

struct Following<'a, C>(&'a C);

#[async_trait]
impl<C: OrderedConsumer> Attempt for Following<'_, C> {
    async fn attempt(
        &self,
        _leader: Option<&mut PgConnection>,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<Stop> {
        follow(self.0, shutdown).await
    }
}

async fn follow<C: OrderedConsumer>(c: &C, shutdown: &CancellationToken) -> anyhow::Result<Stop> {
    let batching = c.batching();
    let (mut delivered, mut session) = c.resume().await?;
    let mut messages = subscribe(c, delivered + 1, &batching).await?;
    let mut first_delivery = true;
    let mut quiet_since_commit = false;
    let meters: Vec<Meter> = c.meters().iter().map(|m| Meter::new(m)).collect();
    let idle_after = batching.idle_after.unwrap_or(Duration::from_secs(3600));
    loop {
        let first = tokio::select! {
            _ = shutdown.cancelled() => return Ok(Stop::Shutdown),
            m = messages.next() => m.context("the consumer's message stream ended")??,
            _ = tokio::time::sleep(idle_after), if quiet_since_commit && batching.idle_after.is_some() => {
                quiet_since_commit = false;
                c.idle(&mut session, delivered, shutdown).await?;
                continue;
            }
        };
        let batch = gather(&mut messages, first, &batching).await?;
        let started = std::time::Instant::now();
        let may_skip = first_delivery && batching.may_start_later;
        let (fresh, pending) = match in_turn(&batch, &mut delivered, may_skip)? {
            Turn::In { fresh, pending } => (fresh, pending),
            Turn::Out(reason) => return Ok(Stop::Restart(reason)),
        };
        if !fresh.is_empty() {
            first_delivery = false;
            c.commit(&mut session, &fresh, shutdown).await?;
            quiet_since_commit = true;
            for meter in &meters {
                meter.committed(delivered, fresh.len(), pending, started.elapsed());
            }
        }
        if let Some(last) = batch.last() {
            // AckPolicy::All: acknowledges the whole batch.
            last.ack()
                .await
                .map_err(|e| anyhow::anyhow!("ack failed: {e}"))?;
        }
    }
}

/// The consumer's messages from stream sequence `start`. Each pull request
/// asks for a whole batch (the client's default is 200), so a consumer far
/// behind commits full batches.
async fn subscribe<C: OrderedConsumer>(
    c: &C,
    start: u64,
    batching: &Batching,
) -> anyhow::Result<pull::Stream> {
    Ok(c.consumer(start)
        .await?
        .stream()
        .heartbeat(PULL_HEARTBEAT)
        .max_messages_per_batch(batching.max.max(1))
        .messages()
        .await?)
}

/// A batch's messages sorted against the last one delivered.
enum Turn<'a> {
    /// Those not delivered yet, each the next in the stream, and the
    /// messages pending after the batch.
    In {
        fresh: Vec<Delivered<'a>>,
        pending: u64,
    },
    /// One came out of turn.
    Out(String),
}

/// Sorts `batch` against `delivered` (moved on to the last fresh message):
/// messages already delivered are left out, and the first fresh one may
/// skip ahead only when `may_skip` (a consumer that may start later than
/// asked, on its first delivery).
fn in_turn<'a>(
    batch: &'a [jetstream::Message],
    delivered: &mut u64,
    may_skip: bool,
) -> anyhow::Result<Turn<'a>> {
    let mut fresh = Vec::with_capacity(batch.len());
    let mut pending = 0;
    for message in batch {
        let info = message.info().map_err(|e| anyhow::anyhow!("{e}"))?;
        let seq = info.stream_sequence;
        pending = info.pending;
        if seq <= *delivered {
            continue;
        }
        if seq != *delivered + 1 && !(may_skip && fresh.is_empty()) {
            let expected = *delivered + 1;
            return Ok(Turn::Out(format!(
                "delivered out of turn (expected {expected}, got {seq})"
            )));
        }
        *delivered = seq;
        fresh.push(Delivered { seq, message });
    }
    Ok(Turn::In { fresh, pending })
}

/// `first` and whatever arrives within the linger, up to the batch size.
async fn gather(
    messages: &mut pull::Stream,
    first: jetstream::Message,
    batching: &Batching,
) -> anyhow::Result<Vec<jetstream::Message>> {
    let deadline = tokio::time::Instant::now() + batching.linger;
    let mut batch = vec![first];
    while batch.len() < batching.max {
        match tokio::time::timeout_at(deadline, messages.next()).await {
            Ok(Some(m)) => batch.push(m?),
            Ok(None) | Err(_) => break,
        }
    }
    Ok(batch)
}

/// A worker's metrics (`comics_worker_*{worker}`, see `comics_common::metrics`).
struct Meter {
    position: metrics::Gauge,
    behind: metrics::Gauge,
    events: metrics::Counter,
    batch: metrics::Histogram,
}

impl Meter {
    fn new(worker: &str) -> Self {
        let worker = worker.to_owned();
        Self {
            position: metrics::gauge!("comics_worker_position", "worker" => worker.clone()),
            behind: metrics::gauge!("comics_worker_events_behind", "worker" => worker.clone()),
            events: metrics::counter!("comics_worker_events_total", "worker" => worker.clone()),
            batch: metrics::histogram!("comics_worker_batch_seconds", "worker" => worker),
        }
    }

    /// A batch of `events` committed up to stream sequence `position`, with
    /// `pending` more in the stream after its last message.
    fn committed(&self, position: u64, events: usize, pending: u64, took: Duration) {
        self.position.set(position as f64);
        self.behind.set(pending as f64);
        self.events.increment(events as u64);
        self.batch.record(took.as_secs_f64());
    }
}
