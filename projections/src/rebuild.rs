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
use comics_common::projections::Changes;
use comics_eventlog::record::read_committed_after;
use comics_eventlog::CommitCursor;
use sqlx::{Connection, PgConnection, PgPool};

use crate::runtime::{
    apply_fresh, apply_in, begin, ensure_schema, lock_checkpoint, write_applied, Projector,
    Sequences,
};

/// Events per page read, and per transaction of the fresh copy.
const PAGE: i64 = 4000;
/// Pages read ahead of the one being applied.
const READ_AHEAD: usize = 2;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuildReport {
    pub name: &'static str,
    pub events_applied: u64,
    pub checkpoint: u64,
}

/// How far a rebuild is: events applied of those in the log when it began.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub name: &'static str,
    pub done: u64,
    pub total: u64,
}

/// Told of a rebuild's progress after each page it applies.
pub trait Report: Sync {
    fn progress(&self, progress: Progress);
}

impl Report for () {
    fn progress(&self, _: Progress) {}
}

/// Rebuilds `projector`'s query store in `store` from the log in `events`.
pub async fn rebuild(
    events: &PgPool,
    store: &PgPool,
    projector: &dyn Projector,
) -> anyhow::Result<RebuildReport> {
    rebuild_reporting(events, store, projector, &()).await
}

/// [`rebuild`], telling `report` how far it is.
pub async fn rebuild_reporting(
    events: &PgPool,
    store: &PgPool,
    projector: &dyn Projector,
    report: &dyn Report,
) -> anyhow::Result<RebuildReport> {
    let mut guard = exclusive(store, projector.info().name).await?;
    let result = rebuild_exclusively(events, store, projector, report).await;
    // Unlocked here, not when the connection drops: the server notices a
    // dropped connection late, and a rebuild right after would find the
    // lock still held.
    let _ = sqlx::query("SELECT pg_advisory_unlock_all()")
        .execute(&mut guard)
        .await;
    let _ = guard.close().await;
    result
}

async fn rebuild_exclusively(
    events: &PgPool,
    store: &PgPool,
    projector: &dyn Projector,
    report: &dyn Report,
) -> anyhow::Result<RebuildReport> {
    let info = projector.info();
    let fresh = format!("{}_rebuild", info.schema);
    recreate_fresh(store, projector, &fresh).await?;
    let mut reader = events.acquire().await?;
    let (cursor, filled) = fill(&mut reader, store, projector, &fresh, report).await?;
    let (checkpoint, caught_up) = take_over(&mut reader, store, projector, &fresh, cursor).await?;
    let applied = filled + caught_up;
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

/// Makes sure the live copy exists, and the fresh copy `fresh` exists empty.
async fn recreate_fresh(
    store: &PgPool,
    projector: &dyn Projector,
    fresh: &str,
) -> anyhow::Result<()> {
    ensure_schema(store, projector, projector.info().schema).await?;
    sqlx::Executor::execute(
        store,
        format!("DROP SCHEMA IF EXISTS {fresh} CASCADE").as_str(),
    )
    .await?;
    ensure_schema(store, projector, fresh).await?;
    Ok(())
}

/// Fills the fresh copy from the whole log as far as it is released, page by
/// page, telling `report`. Returns where it read to and the events applied.
async fn fill(
    reader: &mut PgConnection,
    store: &PgPool,
    projector: &dyn Projector,
    fresh: &str,
    report: &dyn Report,
) -> anyhow::Result<(CommitCursor, u64)> {
    let info = projector.info();
    let total: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = ANY($1)")
            .bind(info.aggregate_types)
            .fetch_one(&mut *reader)
            .await?;
    let mut applied = 0u64;
    let progress = |done| Progress {
        name: info.name,
        done,
        total: (total as u64).max(done),
    };
    report.progress(progress(0));
    // The log is read and the fresh copy written at once, on their two
    // connections: the next page is read while the last one is applied.
    let (pages, mut next) = tokio::sync::mpsc::channel::<Vec<_>>(READ_AHEAD);
    let read = async {
        let mut cursor = CommitCursor::default();
        loop {
            let page =
                read_committed_after(&mut *reader, cursor, info.aggregate_types, PAGE).await?;
            let Some((last, _)) = page.last() else { break };
            cursor = *last;
            let page: Vec<_> = page.into_iter().map(|(_, e)| (None, e)).collect();
            if pages.send(page).await.is_err() {
                break; // the writer failed; its error is the one reported
            }
        }
        drop(pages);
        anyhow::Ok(cursor)
    };
    // Only this rebuild writes the fresh copy, and it reads each event once:
    // the per-aggregate sequences are kept here and stored once at the end.
    let mut sequences = Sequences::new();
    let write = async {
        while let Some(page) = next.recv().await {
            let mut tx = begin(store).await?;
            apply_fresh(&mut tx, projector, fresh, &page, &mut sequences).await?;
            tx.commit().await?;
            applied += page.len() as u64;
            report.progress(progress(applied));
        }
        let mut tx = begin(store).await?;
        write_applied(&mut tx, fresh, &sequences).await?;
        tx.commit().await?;
        anyhow::Ok(())
    };
    let (cursor, ()) = tokio::try_join!(read, write)?;
    Ok((cursor, applied))
}

/// In one transaction that holds the live checkpoint's table: catches the
/// fresh copy up with the log after `cursor`, gives it the live checkpoint
/// and swaps it in for the live copy. Returns the checkpoint and the events
/// applied.
async fn take_over(
    reader: &mut PgConnection,
    store: &PgPool,
    projector: &dyn Projector,
    fresh: &str,
    mut cursor: CommitCursor,
) -> anyhow::Result<(u64, u64)> {
    let info = projector.info();
    let live = info.schema;
    let mut applied = 0u64;
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
        let page = read_committed_after(&mut *reader, cursor, info.aggregate_types, PAGE).await?;
        let Some((last, _)) = page.last() else { break };
        cursor = *last;
        applied += page.len() as u64;
        let page: Vec<_> = page.into_iter().map(|(_, e)| (None, e)).collect();
        apply_in(&mut tx, projector, fresh, 0, &page).await?;
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
    swap_in(&mut tx, &swap).await?;
    crate::runtime::notify_changed(&mut tx, projector, &Changes::everything()).await?;
    tx.commit().await?;
    Ok((checkpoint, applied))
}

/// Runs `swap` (renames and drop) under a savepoint. Readers lock the live
/// tables in their own order, so dropping them can close a lock cycle with
/// a read that Postgres would end by failing it (after `deadlock_timeout`).
/// The swap gives way first instead: it waits at most [`SWAP_LOCK_TIMEOUT`]
/// for each lock, rolls back to the savepoint, releasing what it took, and
/// tries again.
async fn swap_in(tx: &mut PgConnection, swap: &str) -> anyhow::Result<()> {
    sqlx::Executor::execute(&mut *tx, SWAP_LOCK_TIMEOUT).await?;
    let mut attempt = 1;
    loop {
        sqlx::Executor::execute(&mut *tx, "SAVEPOINT swap").await?;
        match sqlx::Executor::execute(&mut *tx, swap).await {
            Ok(_) => {
                sqlx::Executor::execute(&mut *tx, "RELEASE SAVEPOINT swap").await?;
                return Ok(());
            }
            Err(e) if is_lock_timeout(&e) && attempt < SWAP_ATTEMPTS => {
                sqlx::Executor::execute(&mut *tx, "ROLLBACK TO SAVEPOINT swap").await?;
                tokio::time::sleep(std::time::Duration::from_millis(20 * attempt)).await;
                attempt += 1;
            }
            Err(e) => return Err(e).context("cannot swap in the rebuilt copy"),
        }
    }
}

/// Well below Postgres's default `deadlock_timeout` (1 s).
const SWAP_LOCK_TIMEOUT: &str = "SET LOCAL lock_timeout = '200ms'";
const SWAP_ATTEMPTS: u64 = 50;

fn is_lock_timeout(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|code| code == "55P03")
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
