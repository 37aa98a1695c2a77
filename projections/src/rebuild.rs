//! Rebuilding a projection from the Postgres event log while the old copy
//! keeps serving reads.
//!
//! The fresh copy is filled in a schema of its own (`<schema>_rebuild`) from
//! the event log in commit order, the same order the relay publishes in.
//! Then, in one transaction that holds the live checkpoint's lock (so the
//! live projector pauses between batches), the fresh copy catches up with
//! the log, takes over the live checkpoint and is renamed into place. The
//! fresh copy has applied at least everything the live one had (the live one
//! only sees events the relay had released, and the log is read later), and
//! the per-aggregate guard makes the live projector skip what the fresh copy
//! applied ahead of it.

use anyhow::Context;
use comics_nats::record::read_committed_after;
use comics_nats::CommitCursor;
use sqlx::{Connection, PgConnection, PgPool};

use crate::runtime::{apply_batch, apply_in, ensure_schema, lock_checkpoint, Projector};

const PAGE: i64 = 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuildReport {
    pub name: &'static str,
    pub events_applied: u64,
    pub checkpoint: u64,
}

/// Rebuilds `projector`'s query store in `store` from the log in `events`.
pub async fn rebuild(
    events: &PgPool,
    store: &PgPool,
    projector: &dyn Projector,
) -> anyhow::Result<RebuildReport> {
    let info = projector.info();
    let live = info.schema;
    let fresh = format!("{live}_rebuild");
    let _guard = exclusive(store, info.name).await?;
    ensure_schema(store, projector, live).await?;
    sqlx::Executor::execute(
        store,
        format!("DROP SCHEMA IF EXISTS {fresh} CASCADE").as_str(),
    )
    .await?;
    ensure_schema(store, projector, &fresh).await?;

    let mut cursor = CommitCursor::default();
    let mut applied = 0u64;
    loop {
        let page = read_committed_after(events, cursor, info.aggregate_types, PAGE).await?;
        let Some((last, _)) = page.last() else { break };
        cursor = *last;
        applied += page.len() as u64;
        let page: Vec<_> = page.into_iter().map(|(_, e)| (None, e)).collect();
        apply_batch(store, projector, &fresh, &page).await?;
    }

    let mut tx = store.begin().await?;
    // The whole table, not the row: a projector's batch starts by locking
    // the checkpoint row, which first takes a weak lock on the table; had we
    // only the row, the swap's DROP would wait for that weak lock while the
    // batch waits for our row — a deadlock. Waiting here for the table
    // lets a running batch finish and makes the next one wait for the swap.
    sqlx::Executor::execute(
        &mut *tx,
        format!("LOCK TABLE {live}.checkpoint IN ACCESS EXCLUSIVE MODE").as_str(),
    )
    .await?;
    let checkpoint = lock_checkpoint(&mut tx, live).await?;
    loop {
        let page = read_committed_after(events, cursor, info.aggregate_types, PAGE).await?;
        let Some((last, _)) = page.last() else { break };
        cursor = *last;
        applied += page.len() as u64;
        let page: Vec<_> = page.into_iter().map(|(_, e)| (None, e)).collect();
        apply_in(&mut tx, projector, &fresh, 0, &page).await?;
    }
    sqlx::query(&format!(
        "UPDATE {fresh}.checkpoint SET stream_sequence = $1, updated_at = now() WHERE id = 1"
    ))
    .bind(checkpoint as i64)
    .execute(&mut *tx)
    .await?;
    let swap = format!(
        "ALTER SCHEMA {live} RENAME TO {live}_retired; \
         ALTER SCHEMA {fresh} RENAME TO {live}; \
         DROP SCHEMA {live}_retired CASCADE;"
    );
    sqlx::Executor::execute(&mut *tx, swap.as_str())
        .await
        .context("cannot swap in the rebuilt copy")?;
    crate::runtime::notify_changed(&mut tx, projector).await?;
    tx.commit().await?;
    tracing::info!(
        projection = info.name,
        events = applied,
        checkpoint,
        "rebuilt"
    );
    Ok(RebuildReport {
        name: info.name,
        events_applied: applied,
        checkpoint,
    })
}

/// One rebuild of a projection at a time: a session advisory lock held by
/// the returned connection.
async fn exclusive(store: &PgPool, name: &str) -> anyhow::Result<PgConnection> {
    let mut conn = PgConnection::connect_with(&store.connect_options()).await?;
    let got: bool = sqlx::query_scalar(
        "SELECT pg_try_advisory_lock(hashtextextended('comics-rebuild:' || $1, 0))",
    )
    .bind(name)
    .fetch_one(&mut conn)
    .await?;
    anyhow::ensure!(got, "a rebuild of {name} is already running");
    Ok(conn)
}
