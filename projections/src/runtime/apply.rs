//! Applying a batch of events to a projection: rows, per-aggregate
//! sequences, checkpoint and change announcement in one transaction.

use std::collections::HashMap;

use comics_common::projections::Changes;
use comics_eventlog::EventRecord;
use futures::future::BoxFuture;
use sqlx::{PgConnection, PgPool};

use super::Projector;

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
/// lost commits (they do not wait for their WAL flush, see [`begin`]) while the runner kept going. Applying the next
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
    let mut tx = begin(pool).await?;
    let checkpoint = apply_through(&mut tx, projector, schema, events, through, saved).await?;
    tx.commit().await?;
    Ok(checkpoint)
}

/// Begins a transaction that applies batches.
///
/// The checkpoint in this same transaction is the position of record, not
/// the stream's acknowledgement: a commit lost in a database crash loses its
/// checkpoint with it, and delivery restarts from the one that survived (a
/// runner that outlived the crash finds the checkpoint behind what it saved,
/// and restarts). So the commit need not wait for its WAL flush.
pub async fn begin(pool: &PgPool) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Postgres>> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL synchronous_commit = off")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// Applies `events` to `schema` inside the caller's transaction (see
/// [`apply_batch_through`]) and returns the checkpoint it leaves: locks the
/// checkpoint, applies what is not applied yet, moves the checkpoint and
/// announces the changes, all to take effect at the caller's commit.
pub async fn apply_through(
    db: &mut PgConnection,
    projector: &dyn Projector,
    schema: &str,
    events: &[(Option<u64>, EventRecord)],
    through: u64,
    saved: u64,
) -> anyhow::Result<u64> {
    let checkpoint = lock_checkpoint(&mut *db, schema).await?;
    if checkpoint < saved {
        return Err(CheckpointBehind {
            saved,
            found: checkpoint,
        }
        .into());
    }
    let applied = apply_in(&mut *db, projector, schema, checkpoint, events).await?;
    let last_seen = applied.last_seen.max(through);
    if last_seen > checkpoint {
        sqlx::query(&format!(
            "UPDATE {schema}.checkpoint SET stream_sequence = $1, updated_at = now() WHERE id = 1"
        ))
        .bind(last_seen as i64)
        .execute(&mut *db)
        .await?;
        if !applied.changes.is_empty() {
            notify_changed(&mut *db, projector, &applied.changes).await?;
        }
    }
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
    let (last_seen, todo) = past_checkpoint(projector, checkpoint, events);
    let nothing = |last_seen| Applied {
        last_seen,
        changes: Changes::default(),
    };
    if todo.is_empty() {
        return Ok(nothing(last_seen));
    }
    let applied = applied_of(db, schema, &todo).await?;
    let (fresh, moved) = not_applied(applied, todo);
    if fresh.is_empty() {
        return Ok(nothing(last_seen));
    }
    // Exported, each event's projection is a span in its request's trace.
    let _spans = comics_eventlog::record::traced(fresh.iter().copied(), projector.info().name);
    projector.apply_all(db, schema, &fresh).await?;
    if tracing::enabled!(tracing::Level::DEBUG) {
        for event in &fresh {
            tracing::debug!(
                projection = projector.info().name,
                event = %event.message_id(),
                traceparent = event.traceparent(),
                "projected"
            );
        }
    }
    let changes = projector.changes(db, schema, &fresh).await?;
    if !moved.is_empty() {
        store_applied(db, schema, moved).await?;
    }
    Ok(Applied { last_seen, changes })
}

/// The highest stream sequence of `events` (at least `checkpoint`), and
/// those of the projector's aggregate types past the checkpoint (events
/// without a stream sequence always are).
fn past_checkpoint<'a>(
    projector: &dyn Projector,
    checkpoint: u64,
    events: &'a [(Option<u64>, EventRecord)],
) -> (u64, Vec<&'a EventRecord>) {
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
    (last_seen, todo)
}

/// The events of `todo` past their aggregate's sequence in `applied`, and
/// each aggregate's new sequence.
fn not_applied<'a>(
    mut applied: AggregateSequences<'a>,
    todo: Vec<&'a EventRecord>,
) -> (Vec<&'a EventRecord>, AggregateSequences<'a>) {
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
    (fresh, moved)
}

/// Each aggregate's last sequence, by type and id.
type AggregateSequences<'a> = HashMap<(&'a str, &'a str), i64>;

/// Upserts each aggregate's last sequence applied, in one statement.
async fn store_applied(
    db: &mut PgConnection,
    schema: &str,
    moved: AggregateSequences<'_>,
) -> sqlx::Result<()> {
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
    Ok(())
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
