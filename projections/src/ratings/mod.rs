//! The ratings projection: scores, per-comic statistics and global totals,
//! kept incrementally and exactly (each event carries the previous score).

use anyhow::Context;
use async_trait::async_trait;
use comics_common::projections::{ProjectionInfo, RATINGS};
use comics_domain::{ComicEvent, RatingEvent};
use comics_nats::EventRecord;
use sqlx::PgConnection;
use uuid::Uuid;

pub struct RatingsProjector;

#[async_trait]
impl crate::Projector for RatingsProjector {
    fn info(&self) -> ProjectionInfo {
        RATINGS
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
            "Comic" => {
                let id: Uuid = event.aggregate_id.parse().context("comic id")?;
                let e: ComicEvent = serde_json::from_value(event.tagged_payload())?;
                if matches!(e, ComicEvent::ComicDeleted {}) {
                    forget_comic(db, s, id).await?;
                }
                crate::cards::apply(db, s, id, e).await
            }
            "Rating" => {
                let e: RatingEvent = serde_json::from_value(event.tagged_payload())?;
                rating(db, s, e, event.recorded_at).await
            }
            _ => Ok(()),
        }
    }
}

async fn rating(
    db: &mut PgConnection,
    s: &str,
    e: RatingEvent,
    at: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    let (comic_id, user, new, old) = match e {
        RatingEvent::RatingGiven {
            comic_id,
            user,
            score,
        } => (comic_id, user, Some(score.value()), None),
        RatingEvent::RatingChanged {
            comic_id,
            user,
            score,
            previous,
        } => (comic_id, user, Some(score.value()), Some(previous.value())),
        RatingEvent::RatingRemoved {
            comic_id,
            user,
            previous,
        } => (comic_id, user, None, Some(previous.value())),
    };
    // Ratings of a comic the catalog no longer has are not counted.
    let live: bool = sqlx::query_scalar(&format!(
        "SELECT EXISTS (SELECT 1 FROM {s}.comics WHERE id = $1)"
    ))
    .bind(comic_id)
    .fetch_one(&mut *db)
    .await?;
    if !live {
        return Ok(());
    }
    match new {
        Some(score) => {
            sqlx::query(&format!(
                "INSERT INTO {s}.ratings (comic_id, user_id, score, rated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (comic_id, user_id) DO UPDATE SET score = EXCLUDED.score, rated_at = EXCLUDED.rated_at"
            ))
            .bind(comic_id)
            .bind(&user)
            .bind(score as i16)
            .bind(at)
            .execute(&mut *db)
            .await?;
        }
        None => {
            sqlx::query(&format!(
                "DELETE FROM {s}.ratings WHERE comic_id = $1 AND user_id = $2"
            ))
            .bind(comic_id)
            .bind(&user)
            .execute(&mut *db)
            .await?;
        }
    }
    count(db, s, comic_id, new, old).await
}

/// Moves a comic's statistics and the totals from `old` to `new` score.
async fn count(
    db: &mut PgConnection,
    s: &str,
    comic_id: Uuid,
    new: Option<u8>,
    old: Option<u8>,
) -> anyhow::Result<()> {
    let votes = i32::from(new.is_some()) - i32::from(old.is_some());
    let sum = i64::from(new.unwrap_or(0)) - i64::from(old.unwrap_or(0));
    let mut dist = [0i32; 10];
    if let Some(n) = new {
        dist[usize::from(n) - 1] += 1;
    }
    if let Some(o) = old {
        dist[usize::from(o) - 1] -= 1;
    }
    let (before, after): (i32, i32) = sqlx::query_as(&format!(
        "WITH prior AS (SELECT votes FROM {s}.stats WHERE comic_id = $1), \
              up AS (INSERT INTO {s}.stats AS st (comic_id, votes, score_sum, distribution) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (comic_id) DO UPDATE SET votes = st.votes + EXCLUDED.votes, \
                        score_sum = st.score_sum + EXCLUDED.score_sum, \
                        distribution = ARRAY(SELECT a + b FROM unnest(st.distribution, EXCLUDED.distribution) AS t(a, b)) \
                     RETURNING votes) \
         SELECT COALESCE((SELECT votes FROM prior), 0), (SELECT votes FROM up)"
    ))
    .bind(comic_id)
    .bind(votes)
    .bind(sum)
    .bind(&dist[..])
    .fetch_one(&mut *db)
    .await?;
    sqlx::query(&format!(
        "DELETE FROM {s}.stats WHERE comic_id = $1 AND votes <= 0"
    ))
    .bind(comic_id)
    .execute(&mut *db)
    .await?;
    let rated = i64::from(after > 0) - i64::from(before > 0);
    sqlx::query(&format!(
        "UPDATE {s}.totals SET votes = votes + $1, score_sum = score_sum + $2, rated_comics = rated_comics + $3"
    ))
    .bind(i64::from(votes))
    .bind(sum)
    .bind(rated)
    .execute(&mut *db)
    .await?;
    Ok(())
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
