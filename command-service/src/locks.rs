//! Commands that touch a comic and its chapters together (a chapter's number
//! is registered on its comic) run one at a time per comic, across every
//! process: a transaction-scoped Postgres advisory lock, released when the
//! returned guard is dropped, also on error or crash.

use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

pub struct ComicLock(#[allow(dead_code)] Transaction<'static, Postgres>);

pub async fn lock_comic(pool: &PgPool, comic_id: Uuid) -> sqlx::Result<ComicLock> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('comic:' || $1::text, 0))")
        .bind(comic_id)
        .execute(&mut *tx)
        .await?;
    Ok(ComicLock(tx))
}
