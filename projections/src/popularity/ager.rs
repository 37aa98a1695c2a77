//! The ager: moves each window's mark (`window_marks.aged_from`) forward to
//! the window's first minute at the wall clock's now, taking out of the
//! window totals the minutes that left. Each move is one transaction that
//! holds the projection's checkpoint row lock, so it never interleaves with
//! a projector batch (or a rebuild's swap). Marks never move back: a read at
//! an earlier `now` adds the minutes between instead (see [`super::windows`]).
//! What a read answers does not change when the ager runs, only what it
//! costs, so the ager announces nothing to the read caches.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

use super::windows::first_minutes;
use crate::runtime::lock_checkpoint;

/// How often the ager looks whether a window's first minute moved (a read
/// between a minute's start and the next look corrects by that minute).
pub const EVERY: Duration = Duration::from_secs(1);

/// Ages the popularity store in `schema` every [`EVERY`] until `shutdown`.
pub struct Ager {
    pub pool: PgPool,
    pub schema: &'static str,
}

impl Ager {
    /// Runs until `shutdown`; a failed round is logged and tried again.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        loop {
            if let Err(e) = age(&self.pool, self.schema, Utc::now()).await {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "ageing the popularity windows failed"
                );
            }
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep(EVERY) => {}
            }
        }
    }
}

/// Moves every window's mark of the store in `schema` forward to its first
/// minute at `now` (marks already there or later stay); returns how many
/// moved. Takes the checkpoint lock only when one has to move.
pub async fn age(pool: &PgPool, schema: &str, now: DateTime<Utc>) -> anyhow::Result<usize> {
    let (wins, firsts) = first_minutes(now);
    let behind: bool = sqlx::query_scalar(&format!(
        "SELECT EXISTS (SELECT 1 FROM {schema}.window_marks k \
         JOIN unnest($1::text[], $2::timestamptz[]) AS t(win, first) USING (win) \
         WHERE k.aged_from < t.first)"
    ))
    .bind(&wins)
    .bind(&firsts)
    .fetch_one(pool)
    .await?;
    if !behind {
        return Ok(0);
    }
    let mut tx = pool.begin().await?;
    lock_checkpoint(&mut tx, schema).await?;
    let mut moved = 0;
    for (win, first) in wins.iter().zip(&firsts) {
        moved += usize::from(age_window(&mut tx, schema, win, *first).await?);
    }
    tx.commit().await?;
    Ok(moved)
}

/// Moves the mark of `win` to `first` if it is before: the views of the
/// minutes in `[aged_from, first)` leave the window's totals, totals that
/// fall to zero are deleted.
async fn age_window(
    db: &mut PgConnection,
    s: &str,
    win: &str,
    first: DateTime<Utc>,
) -> sqlx::Result<bool> {
    // Subtracted against the old mark, before it moves.
    sqlx::query(&format!(
        "WITH gone AS (SELECT m.comic_id, sum(m.views)::int8 AS views FROM {s}.minutes m \
                       WHERE m.minute >= (SELECT aged_from FROM {s}.window_marks WHERE win = $1) \
                         AND m.minute < $2 \
                       GROUP BY m.comic_id) \
         UPDATE {s}.windows w SET views = w.views - gone.views FROM gone \
         WHERE w.win = $1 AND w.comic_id = gone.comic_id"
    ))
    .bind(win)
    .bind(first)
    .execute(&mut *db)
    .await?;
    let moved = sqlx::query(&format!(
        "UPDATE {s}.window_marks SET aged_from = $2 WHERE win = $1 AND aged_from < $2"
    ))
    .bind(win)
    .bind(first)
    .execute(&mut *db)
    .await?
    .rows_affected()
        > 0;
    if moved {
        sqlx::query(&format!(
            "DELETE FROM {s}.windows WHERE win = $1 AND views = 0"
        ))
        .bind(win)
        .execute(&mut *db)
        .await?;
    }
    Ok(moved)
}
