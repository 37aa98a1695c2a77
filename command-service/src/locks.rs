//! Commands that touch a comic and its chapters together (a chapter's number
//! is registered on its comic) run one at a time per comic, across every
//! process: a transaction-scoped Postgres advisory lock, released when the
//! returned guard is dropped, also on error or crash.

use std::time::Duration;

use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

pub struct ComicLock(#[allow(dead_code)] Transaction<'static, Postgres>);

/// How long a command waits for another command on the same comic.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// Takes the comic's lock. A waiter does not hold a pooled connection while
/// it waits (it polls `pg_try_advisory_xact_lock`), so many commands queued
/// on one comic cannot starve the holder of the connections it needs.
pub async fn lock_comic(pool: &PgPool, comic_id: Uuid) -> sqlx::Result<ComicLock> {
    let deadline = tokio::time::Instant::now() + LOCK_WAIT;
    let mut pause = Duration::from_millis(1);
    loop {
        let mut tx = pool.begin().await?;
        let locked: bool = sqlx::query_scalar(
            "SELECT pg_try_advisory_xact_lock(hashtextextended('comic:' || $1::text, 0))",
        )
        .bind(comic_id)
        .fetch_one(&mut *tx)
        .await?;
        if locked {
            return Ok(ComicLock(tx));
        }
        tx.rollback().await?;
        if tokio::time::Instant::now() >= deadline {
            return Err(sqlx::Error::PoolTimedOut);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}
