//! A comic's `rating` (`{"average","bayesian","count"}`) from the ratings
//! projection's `stats` and `totals`, and the order of comics by it.
//!
//! Both averages are computed by one SQL expression ([`RATED`]) wherever they
//! are read, so a comic shows the same numbers in every document and ranking,
//! and orderings agree with the numbers shown. They are full-precision `f64`
//! (not rounded); both are `null` for a comic without votes.

use std::collections::HashMap;

use serde::Serialize;
use uuid::Uuid;

use sqlx::PgPool;

/// Every comic with votes: `comic_id`, `votes`, `average` and `bayesian`.
///
/// With `n` votes of mean `a` on the comic, the global mean `A` of all votes
/// and `m` = all votes ÷ rated comics (both from `ratings.totals`):
/// `bayesian = (n·a + m·A) / (n + m)` (API.md, MangaDex-style).
pub const RATED: &str = "SELECT s.comic_id, s.votes, \
       s.score_sum::float8 / s.votes AS average, \
       (s.votes * (s.score_sum::float8 / s.votes) + g.m * g.a) / (s.votes + g.m) AS bayesian \
     FROM ratings.stats s \
     CROSS JOIN (SELECT coalesce(max(votes::float8 / NULLIF(rated_comics, 0)), 0) AS m, \
                        coalesce(max(score_sum::float8 / NULLIF(votes, 0)), 0) AS a \
                 FROM ratings.totals) g \
     WHERE s.votes > 0";

/// The ranking order over [`RATED`]: bayesian, then votes, best first; then id.
pub const BEST_FIRST: &str = "bayesian DESC, votes DESC, comic_id ASC";

/// A comic's rating as documents show it; the default is "no votes".
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Rating {
    pub average: Option<f64>,
    pub bayesian: Option<f64>,
    pub count: i64,
}

/// A row of [`RATED`].
#[derive(Debug, sqlx::FromRow)]
pub struct RatedRow {
    pub comic_id: Uuid,
    pub votes: i32,
    pub average: f64,
    pub bayesian: f64,
}

impl RatedRow {
    pub fn rating(&self) -> Rating {
        Rating {
            average: Some(self.average),
            bayesian: Some(self.bayesian),
            count: self.votes.into(),
        }
    }
}

/// The ratings of those of `ids` that have votes.
#[tracing::instrument(skip_all, fields(comics = ids.len()))]
pub async fn for_comics(pool: &PgPool, ids: &[Uuid]) -> Result<HashMap<Uuid, Rating>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = sqlx::query_as::<_, RatedRow>(&format!("{RATED} AND s.comic_id = ANY($1)"))
        .bind(ids)
        .fetch_all(pool)
        .await?;
    Ok(rows.iter().map(|r| (r.comic_id, r.rating())).collect())
}

/// Every comic with votes and its rating, best first (see [`BEST_FIRST`]).
#[tracing::instrument(skip_all)]
pub async fn ranked(pool: &PgPool) -> Result<Vec<(Uuid, Rating)>, sqlx::Error> {
    let rows = sqlx::query_as::<_, RatedRow>(&format!("{RATED} ORDER BY {BEST_FIRST}"))
        .fetch_all(pool)
        .await?;
    Ok(rows.iter().map(|r| (r.comic_id, r.rating())).collect())
}
