//! The popularity projection: views per comic, all time, per minute, and
//! rolling totals per window ([`windows`], aged by the [`ager`]). Minutes
//! older than 31 days before a comic's newest recorded minute are dropped
//! (event time, not wall-clock time, so a rebuild drops the same).

pub mod ager;
pub mod windows;

use anyhow::Context;
use async_trait::async_trait;
use comics_common::projections::{ProjectionInfo, POPULARITY};
use comics_domain::aggregate_types::{COMIC, POPULARITY as VIEWS_RECORDED};
use comics_domain::PopularityEvent;
use comics_nats::EventRecord;
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
}

async fn views(
    db: &mut PgConnection,
    s: &str,
    comic_id: Uuid,
    e: PopularityEvent,
) -> anyhow::Result<()> {
    let PopularityEvent::ViewsRecorded { count, minutes, .. } = e;
    let live: bool = sqlx::query_scalar(&format!(
        "SELECT EXISTS (SELECT 1 FROM {s}.comics WHERE id = $1)"
    ))
    .bind(comic_id)
    .fetch_one(&mut *db)
    .await?;
    if !live || count == 0 {
        return Ok(());
    }
    sqlx::query(&format!(
        "INSERT INTO {s}.totals AS t (comic_id, views) VALUES ($1, $2) \
         ON CONFLICT (comic_id) DO UPDATE SET views = t.views + EXCLUDED.views"
    ))
    .bind(comic_id)
    .bind(count as i64)
    .execute(&mut *db)
    .await?;
    let stamps: Vec<_> = minutes.iter().map(|m| m.minute).collect();
    let counts: Vec<i64> = minutes.iter().map(|m| m.count as i64).collect();
    sqlx::query(&format!(
        "INSERT INTO {s}.minutes AS m (comic_id, minute, views) \
         SELECT $1, minute, views FROM unnest($2::timestamptz[], $3::bigint[]) AS u(minute, views) \
         ON CONFLICT (comic_id, minute) DO UPDATE SET views = m.views + EXCLUDED.views"
    ))
    .bind(comic_id)
    .bind(&stamps)
    .bind(&counts)
    .execute(&mut *db)
    .await?;
    windows::add(db, s, comic_id, &stamps, &counts).await?;
    if let Some(newest) = stamps.iter().max() {
        let before = *newest - chrono::Duration::days(HISTORY_DAYS);
        windows::drop_minutes_before(db, s, comic_id, before).await?;
    }
    Ok(())
}
