//! The ratings projection: scores, per-comic statistics and global totals,
//! kept incrementally and exactly (each event carries the previous score).

use anyhow::Context;
use async_trait::async_trait;
use comics_common::projections::{Changes, ProjectionInfo, RATINGS};
use comics_domain::aggregate_types::{COMIC, RATING};
use comics_domain::RatingEvent;
use comics_eventlog::EventRecord;
use sqlx::PgConnection;
use uuid::Uuid;

mod fold;

use fold::{fold, Scored};

pub struct RatingsProjector;

#[async_trait]
impl crate::Projector for RatingsProjector {
    fn info(&self) -> ProjectionInfo {
        RATINGS
    }

    /// A rating, or a rated comic's deletion, moves the global mean and vote
    /// count, so the Bayesian average every comic shows: a shared change.
    async fn changes(
        &self,
        _db: &mut PgConnection,
        _schema: &str,
        events: &[&EventRecord],
    ) -> anyhow::Result<Changes> {
        let mut changes = crate::changes::named_by(events);
        // A deleted comic's votes leave the global totals too.
        changes.shared = changes.deleted
            || events
                .iter()
                .any(|e| e.aggregate_type == comics_domain::aggregate_types::RATING);
        Ok(changes)
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
        match event.aggregate_type.as_str() {
            COMIC => {
                if let Some(id) = crate::cards::comic_event(db, s, event, &[]).await? {
                    forget_comic(db, s, id).await?;
                }
                Ok(())
            }
            RATING => {
                let e: RatingEvent = serde_json::from_value(event.tagged_payload())?;
                fold(db, s, vec![Scored::of(e, event.recorded_at)]).await
            }
            _ => Ok(()),
        }
    }

    /// Runs of rating events are folded: a few statements per run rather
    /// than five per event; so are runs of comic changes, which touch only
    /// the cards and so do not end a run of ratings. Other comic events
    /// apply one by one, between runs, so a creation or a deletion still
    /// falls exactly where it happened.
    async fn apply_all(
        &self,
        db: &mut PgConnection,
        s: &str,
        events: &[&EventRecord],
    ) -> anyhow::Result<()> {
        let mut run: Vec<Scored> = Vec::new();
        let mut updates = crate::cards::Updates::default();
        for event in events {
            if event.aggregate_type == RATING {
                let e: RatingEvent = serde_json::from_value(event.tagged_payload())
                    .with_context(|| format!("cannot read {}", event.message_id()))?;
                run.push(Scored::of(e, event.recorded_at));
                continue;
            }
            if updates.take(event)? {
                continue;
            }
            fold(db, s, std::mem::take(&mut run)).await?;
            updates.flush(db, s).await?;
            self.apply(db, s, event)
                .await
                .with_context(|| format!("ratings cannot apply {}", event.message_id()))?;
        }
        fold(db, s, run).await?;
        updates.flush(db, s).await
    }
}

/// A deleted comic's ratings leave every read and the totals.
async fn forget_comic(db: &mut PgConnection, s: &str, comic_id: Uuid) -> anyhow::Result<()> {
    let stats: Option<(i32, i64)> = sqlx::query_as(&format!(
        "DELETE FROM {s}.stats WHERE comic_id = $1 RETURNING votes, score_sum"
    ))
    .bind(comic_id)
    .fetch_optional(&mut *db)
    .await?;
    if let Some((votes, sum)) = stats {
        sqlx::query(&format!(
            "UPDATE {s}.totals SET votes = votes - $1, score_sum = score_sum - $2, rated_comics = rated_comics - 1"
        ))
        .bind(i64::from(votes))
        .bind(sum)
        .execute(&mut *db)
        .await?;
    }
    sqlx::query(&format!("DELETE FROM {s}.ratings WHERE comic_id = $1"))
        .bind(comic_id)
        .execute(&mut *db)
        .await?;
    Ok(())
}
