//! The projector runtime: the [`Projector`] trait, the transaction that
//! applies a batch ([`apply`]), and the worker that feeds a group of
//! projectors from the stream ([`runner`], an ordered consumer: see
//! `comics_nats::worker`).
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

mod apply;
mod fresh;
mod runner;

pub use apply::{
    apply_batch, apply_batch_through, apply_in, apply_through, begin, lock_checkpoint,
    notify_changed, read_checkpoint, Applied, CheckpointBehind,
};
pub use fresh::{apply_fresh, write_applied, Sequences};
pub use runner::{group, ProjectorRunner};

use anyhow::Context;
use async_trait::async_trait;
use comics_common::projections::{Changes, ProjectionInfo};
use comics_eventlog::EventRecord;
use sqlx::{PgConnection, PgPool};

/// The tables every projection keeps beside its rows: where it is in the
/// stream, and the last sequence applied per aggregate.
const BOOKKEEPING: &str = include_str!("bookkeeping.sql");

#[async_trait]
pub trait Projector: Send + Sync + 'static {
    fn info(&self) -> ProjectionInfo;
    /// Work on `events` that needs no transaction, done by the stream's
    /// runner before it opens the batch's (the thumbnails render and store
    /// images here, so that no transaction stays open while they do). What
    /// it makes is kept by the projector for [`Projector::apply`], which
    /// does the work itself when nothing was prepared (a rebuild, a retry).
    /// May be called again for the same events.
    async fn prepare(&self, _events: &[&EventRecord]) -> anyhow::Result<()> {
        Ok(())
    }
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
