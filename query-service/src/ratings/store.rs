//! Reading the ratings projection: one user's scores and the top-rated
//! ranking. Only comics that still have a card in `ratings.comics` show.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use super::stats::{RatedRow, Rating, BEST_FIRST, RATED};
use crate::listing::Paging;

/// One of the caller's ratings (`GET /me/ratings` items).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct MyRating {
    pub comic_id: Uuid,
    pub score: i16,
    pub rated_at: DateTime<Utc>,
}

/// One page of `user`'s ratings, newest first, and how many there are.
#[tracing::instrument(skip_all)]
pub async fn of_user(
    pool: &PgPool,
    user: &str,
    paging: Paging,
) -> Result<(Vec<MyRating>, i64), sqlx::Error> {
    crate::listing::user_page(
        pool,
        "r.comic_id, r.score, r.rated_at",
        "ratings.ratings r JOIN ratings.comics c ON c.id = r.comic_id",
        "r.user_id",
        "r.rated_at DESC, r.comic_id ASC",
        user,
        paging,
    )
    .await
}

/// The card of a ranked comic, as the ranking's projection keeps it, with
/// the comic's rating (also the popular ranking's `comic`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ComicCard {
    pub id: Uuid,
    pub title: String,
    pub cover_url: Option<String>,
    pub status: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub rating: Rating,
}

/// One item of the top-rated ranking.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RankedComic {
    /// 1-based over the whole ranking (`offset` + position on the page).
    pub rank: i64,
    pub rating: Rating,
    pub comic: ComicCard,
}

#[derive(Debug, sqlx::FromRow)]
struct RankedRow {
    #[sqlx(flatten)]
    rated: RatedRow,
    title: String,
    cover_url: Option<String>,
    status: String,
    #[sqlx(rename = "type")]
    kind: String,
}

/// One page of the comics with at least `min_votes` votes, best first, and
/// how many there are.
#[tracing::instrument(skip_all, fields(min_votes))]
pub async fn top_rated(
    pool: &PgPool,
    min_votes: i64,
    paging: Paging,
) -> Result<(Vec<RankedComic>, i64), sqlx::Error> {
    let total: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM ratings.stats s JOIN ratings.comics c ON c.id = s.comic_id \
         WHERE s.votes > 0 AND s.votes >= $1",
    )
    .bind(min_votes)
    .fetch_one(pool)
    .await?;
    let rows = sqlx::query_as::<_, RankedRow>(&format!(
        "WITH rated AS ({RATED}) \
         SELECT r.comic_id, r.votes, r.average, r.bayesian, c.title, c.cover_url, c.status, c.type \
         FROM rated r JOIN ratings.comics c ON c.id = r.comic_id \
         WHERE r.votes >= $1 ORDER BY {BEST_FIRST} LIMIT $2 OFFSET $3"
    ))
    .bind(min_votes)
    .bind(paging.limit)
    .bind(paging.offset)
    .fetch_all(pool)
    .await?;
    let items = rows
        .into_iter()
        .zip(paging.offset + 1..)
        .map(|(row, rank)| {
            let rating = row.rated.rating();
            RankedComic {
                rank,
                rating,
                comic: ComicCard {
                    id: row.rated.comic_id,
                    title: row.title,
                    cover_url: row.cover_url,
                    status: row.status,
                    kind: row.kind,
                    rating,
                },
            }
        })
        .collect();
    Ok((items, total))
}
