//! The popularity projection: views per comic, all time, per minute, and
//! rolling totals per window ([`windows`], aged by the [`ager`]). Minutes
//! older than 31 days before a comic's newest recorded minute are dropped
//! (event time, not wall-clock time, so a rebuild drops the same).

pub mod ager;
pub mod windows;

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use comics_common::projections::{ProjectionInfo, POPULARITY};
use comics_domain::aggregate_types::{COMIC, POPULARITY as VIEWS_RECORDED};
use comics_domain::PopularityEvent;
use comics_eventlog::EventRecord;
use sqlx::PgConnection;
use uuid::Uuid;

pub struct PopularityProjector;

/// How much per-minute history is kept.
const HISTORY_DAYS: i64 = 31;

#[async_trait]
impl crate::Projector for PopularityProjector {
    fn info(&self) -> ProjectionInfo {
        POPULARITY
    }

    fn schema_sql(&self) -> &'static str {
        include_str!("schema.sql")
    }

    async fn apply(
        &self,
        db: &mut PgConnection,
        s: &str,
        event: &EventRecord,
    ) -> anyhow::Result<()> {
        let id: Uuid = event
            .aggregate_id
            .parse()
            .context("aggregate id is not a UUID")?;
        match event.aggregate_type.as_str() {
            COMIC => crate::cards::comic_event(db, s, event, &["totals", "minutes", "windows"])
                .await
                .map(|_| ()),
            VIEWS_RECORDED => {
                let e: PopularityEvent = serde_json::from_value(event.tagged_payload())?;
                views(db, s, id, e).await
            }
            _ => Ok(()),
        }
    }

    /// Runs of comic changes are folded ([`crate::cards::apply_all`]).
    async fn apply_all(
        &self,
        db: &mut PgConnection,
        s: &str,
        events: &[&EventRecord],
    ) -> anyhow::Result<()> {
        crate::cards::apply_all(self, db, s, events).await
    }
}

async fn views(
    db: &mut PgConnection,
    s: &str,
    comic_id: Uuid,
    e: PopularityEvent,
) -> anyhow::Result<()> {
    let PopularityEvent::ViewsRecorded { count, minutes, .. } = e;
    let stamps: Vec<_> = minutes.iter().map(|m| m.minute).collect();
    let counts: Vec<i64> = minutes.iter().map(|m| m.count as i64).collect();
    record_views(db, s, comic_id, count as i64, &stamps, &counts).await?;
    Ok(())
}

/// `count` views of a live comic (none of a comic the store does not have),
/// `counts[i]` of them in minute `minutes[i]`: all-time total, minutes,
/// windows, and the minutes that fall out of the history kept (those before
/// [`HISTORY_DAYS`] before the newest of `minutes`), in one statement.
///
/// Applied one after the other, the steps would be: add to the total; add
/// each minute; add each minute at or past a window's mark to that window;
/// drop the minutes before the history kept, taking out of each window what
/// it counted of them; drop windows left at zero. Folded into one statement
/// they give the same: a minute given here that falls out of the history at
/// once is neither added nor dropped (its window additions and subtractions
/// cancel), the minutes dropped are the rows there before, and each window
/// moves once by what it gained less what it lost.
pub async fn record_views(
    db: &mut PgConnection,
    s: &str,
    comic_id: Uuid,
    count: i64,
    stamps: &[DateTime<Utc>],
    counts: &[i64],
) -> sqlx::Result<()> {
    let before = stamps
        .iter()
        .max()
        .map(|newest| *newest - chrono::Duration::days(HISTORY_DAYS));
    let dropped: i64 = sqlx::query_scalar(&format!(
        "WITH live AS (SELECT 1 FROM {s}.comics WHERE id = $1 AND $4::int8 > 0), \
              kept AS (SELECT coalesce($5::timestamptz, '-infinity') AS from_minute), \
              u AS (SELECT u.minute, u.views \
                    FROM unnest($2::timestamptz[], $3::bigint[]) AS u(minute, views), kept \
                    WHERE EXISTS (SELECT 1 FROM live) AND u.minute >= kept.from_minute), \
              total AS (INSERT INTO {s}.totals AS t (comic_id, views) SELECT $1, $4 FROM live \
                        ON CONFLICT (comic_id) DO UPDATE SET views = t.views + EXCLUDED.views), \
              added AS (INSERT INTO {s}.minutes AS m (comic_id, minute, views) \
                        SELECT $1, minute, views FROM u \
                        ON CONFLICT (comic_id, minute) DO UPDATE SET views = m.views + EXCLUDED.views), \
              gone AS (DELETE FROM {s}.minutes m USING kept \
                       WHERE m.comic_id = $1 AND m.minute < kept.from_minute \
                         AND EXISTS (SELECT 1 FROM live) \
                       RETURNING m.minute, m.views), \
              moved AS (SELECT k.win, sum(x.views)::int8 AS views \
                        FROM (SELECT minute, views FROM u \
                              UNION ALL SELECT minute, -views FROM gone) x \
                        JOIN {s}.window_marks k ON x.minute >= k.aged_from \
                        GROUP BY k.win), \
              windows AS (INSERT INTO {s}.windows AS w (comic_id, win, views) \
                          SELECT $1, win, views FROM moved \
                          ON CONFLICT (comic_id, win) DO UPDATE SET views = w.views + EXCLUDED.views) \
         SELECT count(*) FROM gone"
    ))
    .bind(comic_id)
    .bind(stamps)
    .bind(counts)
    .bind(count)
    .bind(before)
    .fetch_one(&mut *db)
    .await?;
    if dropped > 0 {
        sqlx::query(&format!(
            "DELETE FROM {s}.windows WHERE comic_id = $1 AND views = 0"
        ))
        .bind(comic_id)
        .execute(&mut *db)
        .await?;
    }
    Ok(())
}
