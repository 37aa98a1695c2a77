//! The projector runtime.
//!
//! Each projector owns a Postgres schema holding its rows, a `checkpoint`
//! (the last JetStream stream sequence applied) and `applied` (the last
//! sequence applied per aggregate). A batch of messages is applied in one
//! transaction that first locks the checkpoint row, skips what is already
//! applied, writes the rows, the per-aggregate sequences and the checkpoint,
//! and commits; only then is the batch acknowledged. A crash anywhere
//! re-delivers at most what was not committed, and the guards make applying
//! it again a no-op. The checkpoint in Postgres is the position of record:
//! at start the durable consumer is recreated to deliver from just after it,
//! and any gap in stream sequences (a message redelivered out of turn)
//! recreates it again, so events are applied strictly in stream order.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_nats::jetstream::{self, consumer::PullConsumer};
use async_trait::async_trait;
use comics_common::projections::{Changes, ProjectionInfo};
use comics_nats::{stream::ensure_stream, EventRecord, Names};
use futures::future::BoxFuture;
use futures::StreamExt;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

const BATCH: usize = 256;
/// How long a batch waits for more messages after its first: under a
/// trickle of writes, one transaction (and one change announcement) per few
/// events instead of per event, for at most this much more lag.
const LINGER: Duration = Duration::from_millis(15);
/// How long the checkpoint may stay behind messages the projector skips.
const SKIPPED_SAVE: Duration = Duration::from_secs(1);

/// The tables every projection keeps beside its rows: where it is in the
/// stream, and the last sequence applied per aggregate.
const BOOKKEEPING: &str = include_str!("bookkeeping.sql");

#[async_trait]
pub trait Projector: Send + Sync + 'static {
    fn info(&self) -> ProjectionInfo;
    /// DDL of the query store, with `{schema}` for the schema name.
    fn schema_sql(&self) -> &'static str;
    /// Applies one event (of one of `info().aggregate_types`) to `schema`.
    async fn apply(
        &self,
        db: &mut PgConnection,
        schema: &str,
        event: &EventRecord,
    ) -> anyhow::Result<()>;

    /// Applies `events`, in order, none of them applied before. One by one
    /// unless the projector folds them into fewer statements.
    async fn apply_all(
        &self,
        db: &mut PgConnection,
        schema: &str,
        events: &[&EventRecord],
    ) -> anyhow::Result<()> {
        for event in events {
            self.apply(db, schema, event).await.with_context(|| {
                format!("{} cannot apply {}", self.info().name, event.message_id())
            })?;
        }
        Ok(())
    }

    /// What `events`, just applied in this transaction, changed, for the
    /// read caches (announced with the commit). By default the comics the
    /// events name themselves ([`crate::changes::named_by`]).
    async fn changes(
        &self,
        _db: &mut PgConnection,
        _schema: &str,
        events: &[&EventRecord],
    ) -> anyhow::Result<Changes> {
        Ok(crate::changes::named_by(events))
    }
}

/// Creates the projector's schema in `schema` if missing.
pub async fn ensure_schema(
    pool: &PgPool,
    projector: &dyn Projector,
    schema: &str,
) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    // Concurrent `CREATE ... IF NOT EXISTS` can still collide; serialise.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('comics-schema:' || $1, 0))")
        .bind(schema)
        .execute(&mut *tx)
        .await?;
    // On a live store, let the projector's batch in flight finish and hold
    // off the next: `CREATE INDEX IF NOT EXISTS` share-locks tables that a
    // batch writes, and taking them in another order than it deadlocks.
    let checkpoint = format!("{schema}.checkpoint");
    let live: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(&checkpoint)
        .fetch_one(&mut *tx)
        .await?;
    if live {
        sqlx::query(&format!("LOCK TABLE {checkpoint} IN EXCLUSIVE MODE"))
            .execute(&mut *tx)
            .await?;
    }
    let ddl = format!("{BOOKKEEPING}\n{}", projector.schema_sql()).replace("{schema}", schema);
    // A plain &str runs as a simple query: several statements at once.
    sqlx::Executor::execute(&mut *tx, ddl.as_str())
        .await
        .with_context(|| format!("cannot create schema {schema}"))?;
    tx.commit().await?;
    Ok(())
}

/// Applies `events` to `schema` in one transaction and returns the new
/// checkpoint. Events carry their stream sequence when they come from the
/// stream; a rebuild reading the event log passes `None`.
///
/// Boxed so that callers in spawned tasks get a plainly `Send` future.
pub fn apply_batch<'a>(
    pool: &'a PgPool,
    projector: &'a dyn Projector,
    schema: &'a str,
    events: &'a [(Option<u64>, EventRecord)],
) -> BoxFuture<'a, anyhow::Result<u64>> {
    Box::pin(apply_batch_inner(pool, projector, schema, events, 0, 0))
}

/// [`apply_batch`] for a runner that saved the checkpoint `saved` last,
/// moving the checkpoint to at least `through`: the stream sequence of the
/// last message delivered, when the messages after the last of `events` were
/// of no interest to the projector. Fails with [`CheckpointBehind`] when the
/// stored checkpoint is below `saved` (see there).
pub fn apply_batch_through<'a>(
    pool: &'a PgPool,
    projector: &'a dyn Projector,
    schema: &'a str,
    events: &'a [(Option<u64>, EventRecord)],
    through: u64,
    saved: u64,
) -> BoxFuture<'a, anyhow::Result<u64>> {
    Box::pin(apply_batch_inner(
        pool, projector, schema, events, through, saved,
    ))
}

/// The stored checkpoint is behind what this runner committed: the database
/// lost commits (they do not wait for their WAL flush, see
/// [`apply_batch_inner`]) while the runner kept going. Applying the next
/// batch would move the checkpoint past the lost events; the runner must
/// instead restart delivery from the stored checkpoint.
#[derive(Debug, thiserror::Error)]
#[error("the checkpoint is at {found}, behind the {saved} this runner committed (commits lost in a database crash)")]
pub struct CheckpointBehind {
    pub saved: u64,
    pub found: u64,
}

async fn apply_batch_inner(
    pool: &PgPool,
    projector: &dyn Projector,
    schema: &str,
    events: &[(Option<u64>, EventRecord)],
    through: u64,
    saved: u64,
) -> anyhow::Result<u64> {
    let mut tx = pool.begin().await?;
    // The checkpoint in this same transaction is the position of record, not
    // the stream's acknowledgement: a commit lost in a database crash loses
    // its checkpoint with it, and delivery restarts from the one that
    // survived (a runner that outlived the crash finds the checkpoint behind
    // what it saved, and restarts). So the commit need not wait for its WAL
    // flush.
    sqlx::query("SET LOCAL synchronous_commit = off")
        .execute(&mut *tx)
        .await?;
    let checkpoint = lock_checkpoint(&mut tx, schema).await?;
    if checkpoint < saved {
        return Err(CheckpointBehind {
            saved,
            found: checkpoint,
        }
        .into());
    }
    let applied = apply_in(&mut tx, projector, schema, checkpoint, events).await?;
    let last_seen = applied.last_seen.max(through);
    if last_seen > checkpoint {
        sqlx::query(&format!(
            "UPDATE {schema}.checkpoint SET stream_sequence = $1, updated_at = now() WHERE id = 1"
        ))
        .bind(last_seen as i64)
        .execute(&mut *tx)
        .await?;
        if !applied.changes.is_empty() {
            notify_changed(&mut tx, projector, &applied.changes).await?;
        }
    }
    tx.commit().await?;
    Ok(last_seen.max(checkpoint))
}

/// Announces, at commit, what of the projection's rows changed.
pub async fn notify_changed(
    db: &mut PgConnection,
    projector: &dyn Projector,
    changes: &Changes,
) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(comics_common::projections::CHANGED_CHANNEL)
        .bind(changes.to_payload(projector.info().name))
        .execute(db)
        .await
        .map(|_| ())
}

/// Locks the checkpoint row (one writer per projection at a time) and reads it.
pub async fn lock_checkpoint(db: &mut PgConnection, schema: &str) -> sqlx::Result<u64> {
    let seq: i64 = sqlx::query_scalar(&format!(
        "SELECT stream_sequence FROM {schema}.checkpoint WHERE id = 1 FOR UPDATE"
    ))
    .fetch_one(db)
    .await?;
    Ok(seq as u64)
}

/// What [`apply_in`] did: the highest stream sequence seen, and what the
/// events applied changed.
pub struct Applied {
    pub last_seen: u64,
    pub changes: Changes,
}

/// Applies what is not applied yet. The per-aggregate sequences are read in
/// one statement before and written in one after, so a batch costs the
/// projector's own statements and two more.
pub async fn apply_in(
    db: &mut PgConnection,
    projector: &dyn Projector,
    schema: &str,
    checkpoint: u64,
    events: &[(Option<u64>, EventRecord)],
) -> anyhow::Result<Applied> {
    let types = projector.info().aggregate_types;
    let mut last_seen = checkpoint;
    let mut todo = Vec::with_capacity(events.len());
    for (stream_seq, event) in events {
        if let Some(seq) = *stream_seq {
            if seq <= checkpoint {
                continue;
            }
            last_seen = last_seen.max(seq);
        }
        if types.contains(&event.aggregate_type.as_str()) {
            todo.push(event);
        }
    }
    let nothing = |last_seen| Applied {
        last_seen,
        changes: Changes::default(),
    };
    if todo.is_empty() {
        return Ok(nothing(last_seen));
    }
    let mut applied = applied_of(db, schema, &todo).await?;
    let mut moved: HashMap<(&str, &str), i64> = HashMap::new();
    let mut fresh = Vec::with_capacity(todo.len());
    for event in todo {
        let key = (event.aggregate_type.as_str(), event.aggregate_id.as_str());
        if applied.get(&key).is_some_and(|a| *a >= event.sequence) {
            continue;
        }
        applied.insert(key, event.sequence);
        moved.insert(key, event.sequence);
        fresh.push(event);
    }
    if fresh.is_empty() {
        return Ok(nothing(last_seen));
    }
    projector.apply_all(db, schema, &fresh).await?;
    let changes = projector.changes(db, schema, &fresh).await?;
    if !moved.is_empty() {
        let (mut kinds, mut ids, mut seqs) = (vec![], vec![], vec![]);
        for ((kind, id), seq) in moved {
            kinds.push(kind);
            ids.push(id);
            seqs.push(seq);
        }
        sqlx::query(&format!(
            "INSERT INTO {schema}.applied (aggregate_type, aggregate_id, sequence) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) \
             ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET sequence = EXCLUDED.sequence"
        ))
        .bind(&kinds)
        .bind(&ids)
        .bind(&seqs)
        .execute(&mut *db)
        .await?;
    }
    Ok(Applied { last_seen, changes })
}

/// The last sequence applied of each aggregate `events` touch.
async fn applied_of<'a>(
    db: &mut PgConnection,
    schema: &str,
    events: &[&'a EventRecord],
) -> sqlx::Result<HashMap<(&'a str, &'a str), i64>> {
    let (kinds, ids): (Vec<&str>, Vec<&str>) = events
        .iter()
        .map(|e| (e.aggregate_type.as_str(), e.aggregate_id.as_str()))
        .unzip();
    let rows: Vec<(String, String, i64)> = sqlx::query_as(&format!(
        // LATERAL with LIMIT (which keeps the planner from flattening it into
        // a join): one index lookup per aggregate, never a scan of the table.
        "SELECT DISTINCT a.aggregate_type, a.aggregate_id, a.sequence \
         FROM unnest($1::text[], $2::text[]) AS w(aggregate_type, aggregate_id) \
         CROSS JOIN LATERAL (SELECT * FROM {schema}.applied x \
             WHERE x.aggregate_type = w.aggregate_type AND x.aggregate_id = w.aggregate_id LIMIT 1) a"
    ))
    .bind(&kinds)
    .bind(&ids)
    .fetch_all(&mut *db)
    .await?;
    let rows: HashMap<(String, String), i64> =
        rows.into_iter().map(|(k, i, s)| ((k, i), s)).collect();
    let mut out = HashMap::with_capacity(rows.len());
    for e in events {
        let owned = (e.aggregate_type.clone(), e.aggregate_id.clone());
        if let Some(seq) = rows.get(&owned) {
            out.insert((e.aggregate_type.as_str(), e.aggregate_id.as_str()), *seq);
        }
    }
    Ok(out)
}

pub async fn read_checkpoint(pool: &PgPool, schema: &str) -> sqlx::Result<u64> {
    let seq: i64 = sqlx::query_scalar(&format!(
        "SELECT stream_sequence FROM {schema}.checkpoint WHERE id = 1"
    ))
    .fetch_one(pool)
    .await?;
    Ok(seq as u64)
}

/// Runs one projector against the stream until shutdown.
pub struct ProjectorRunner {
    pub projector: Arc<dyn Projector>,
    /// The projection's query store.
    pub pool: PgPool,
    pub js: jetstream::Context,
    pub names: Names,
}

enum Interrupted {
    Shutdown,
    /// A gap in stream sequences: restart delivery from the checkpoint.
    Gap {
        expected: u64,
        got: u64,
    },
}

impl ProjectorRunner {
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let info = self.projector.info();
        loop {
            let outcome =
                match ensure_schema(&self.pool, self.projector.as_ref(), info.schema).await {
                    Ok(()) => self.consume(&shutdown).await,
                    Err(e) => Err(e),
                };
            match outcome {
                Ok(Interrupted::Shutdown) => return Ok(()),
                Ok(Interrupted::Gap { expected, got }) => {
                    tracing::info!(
                        projection = info.name,
                        expected,
                        got,
                        "redelivery out of turn; restarting from checkpoint"
                    );
                }
                Err(e) => {
                    tracing::warn!(
                        projection = info.name,
                        error = format!("{e:#}"),
                        "projector interrupted; restarting"
                    );
                    tokio::select! {
                        _ = shutdown.cancelled() => return Ok(()),
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                }
            }
        }
    }

    /// (Re)creates the durable consumer to deliver from just after `checkpoint`.
    async fn consumer(&self, checkpoint: u64) -> anyhow::Result<PullConsumer> {
        let name = self.projector.info().name;
        let stream = ensure_stream(&self.js, &self.names).await?;
        let _ = stream.delete_consumer(name).await;
        let config = self.names.projector_consumer(name, checkpoint + 1)?;
        stream
            .create_consumer(config)
            .await
            .with_context(|| format!("cannot create consumer {name}"))
    }

    async fn consume(&self, shutdown: &CancellationToken) -> anyhow::Result<Interrupted> {
        let info = self.projector.info();
        let mut checkpoint = read_checkpoint(&self.pool, info.schema).await?;
        let consumer = self.consumer(checkpoint).await?;
        let mut messages = consumer.messages().await?;
        // Messages of other aggregate types are neither read nor applied;
        // the checkpoint passes them with the next batch that applies
        // something, or every SKIPPED_SAVE at the latest.
        let mut saved = (checkpoint, Instant::now());
        loop {
            let first = tokio::select! {
                _ = shutdown.cancelled() => return Ok(Interrupted::Shutdown),
                m = messages.next() => m,
                // Quiet after skipped messages: record that they are passed.
                _ = tokio::time::sleep(SKIPPED_SAVE), if checkpoint > saved.0 => {
                    let at = self.apply_with_retry(&[], checkpoint, saved.0, shutdown).await?;
                    saved = (at, Instant::now());
                    continue;
                }
            };
            let Some(first) = first else {
                anyhow::bail!("the consumer's message stream ended");
            };
            let mut batch = vec![first?];
            let until = tokio::time::Instant::now() + LINGER;
            while batch.len() < BATCH {
                match tokio::time::timeout_at(until, messages.next()).await {
                    Ok(Some(m)) => batch.push(m?),
                    _ => break,
                }
            }
            let mut events = Vec::with_capacity(batch.len());
            let mut delivered = checkpoint;
            for message in &batch {
                let seq = message
                    .info()
                    .map_err(|e| anyhow::anyhow!("{e}"))?
                    .stream_sequence;
                if seq <= delivered {
                    continue;
                }
                let expected = delivered + 1;
                if seq != expected {
                    return Ok(Interrupted::Gap { expected, got: seq });
                }
                delivered = seq;
                let wanted = self
                    .names
                    .event_type_of(&message.subject)
                    .is_none_or(|t| info.aggregate_types.contains(&t));
                if !wanted {
                    continue;
                }
                let record: EventRecord = serde_json::from_slice(&message.payload)
                    .with_context(|| format!("stream message {seq} is not an event record"))?;
                events.push((Some(seq), record));
            }
            if !events.is_empty() || (delivered > saved.0 && saved.1.elapsed() >= SKIPPED_SAVE) {
                let at = self
                    .apply_with_retry(&events, delivered, saved.0, shutdown)
                    .await?;
                saved = (at, Instant::now());
            }
            checkpoint = delivered;
            if let Some(last) = batch.last() {
                // AckPolicy::All: acknowledges the whole batch.
                last.ack()
                    .await
                    .map_err(|e| anyhow::anyhow!("ack failed: {e}"))?;
            }
        }
    }

    async fn apply_with_retry(
        &self,
        events: &[(Option<u64>, EventRecord)],
        through: u64,
        saved: u64,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<u64> {
        let info = self.projector.info();
        let mut backoff = Duration::from_millis(50);
        loop {
            let applied = apply_batch_through(
                &self.pool,
                self.projector.as_ref(),
                info.schema,
                events,
                through,
                saved,
            );
            match applied.await {
                Ok(checkpoint) => return Ok(checkpoint),
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

#[cfg(test)]
mod send_checks {
    use super::*;
    fn is_send<T: Send>(_: T) {}
    #[allow(dead_code)]
    fn futures_are_send(
        pool: PgPool,
        p: Arc<dyn Projector>,
        r: ProjectorRunner,
        t: CancellationToken,
    ) {
        is_send(ensure_schema(&pool, p.as_ref(), "x"));
        is_send(read_checkpoint(&pool, "x"));
        is_send(r.consumer(1));
        is_send(r.apply_with_retry(&[], 0, 0, &t));
        is_send(r.consume(&t));
    }
}
