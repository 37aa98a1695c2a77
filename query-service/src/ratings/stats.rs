//! A comic's `rating` (`{"average","bayesian","count"}`) from the ratings
//! projection's `stats` and `totals`, and the order of comics by it.
//!
//! Both averages are computed by one SQL expression ([`RATED`]) wherever they
//! are read, so a comic shows the same numbers in every document and ranking,
//! and orderings agree with the numbers shown. They are full-precision `f64`
//! (not rounded); both are `null` for a comic without votes.
//! [`detailed`] adds the distribution of scores for `GET /comics/{id}/stats`.

use std::collections::HashMap;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, utoipa::ToSchema)]
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

/// A comic's rating with how many votes each score got
/// (`GET /comics/{id}/stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DetailedRating {
    #[serde(flatten)]
    pub rating: Rating,
    /// Votes per score, `"1"` to `"10"`.
    #[schema(value_type = std::collections::BTreeMap<String, i64>)]
    pub distribution: Distribution,
}

/// Votes per score: `{"1": n, …, "10": n}`, every score present, in score order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Distribution(pub [i64; 10]);

impl Distribution {
    /// From the projection's `distribution` array (`[s - 1]` = votes of
    /// score `s`); missing entries count as none.
    fn from_column(column: &[i32]) -> Self {
        let mut votes = [0; 10];
        for (slot, n) in votes.iter_mut().zip(column) {
            *slot = (*n).into();
        }
        Self(votes)
    }
}

impl Serialize for Distribution {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (score, votes) in (1..).zip(&self.0) {
            map.serialize_entry(&score.to_string(), votes)?;
        }
        map.end()
    }
}

#[derive(Debug, sqlx::FromRow)]
struct DetailedRow {
    #[sqlx(flatten)]
    rated: RatedRow,
    distribution: Vec<i32>,
}

/// The rating of comic `id` with its distribution; no votes, all zeros.
#[tracing::instrument(skip_all, fields(comic_id = %id))]
pub async fn detailed(pool: &PgPool, id: Uuid) -> Result<DetailedRating, sqlx::Error> {
    // The same expression as every other rating read, and the distribution
    // from the same snapshot.
    let row = sqlx::query_as::<_, DetailedRow>(&format!(
        "SELECT r.comic_id, r.votes, r.average, r.bayesian, d.distribution \
         FROM ({RATED} AND s.comic_id = $1) r JOIN ratings.stats d ON d.comic_id = r.comic_id"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(
        row.map_or_else(DetailedRating::default, |row| DetailedRating {
            rating: row.rated.rating(),
            distribution: Distribution::from_column(&row.distribution),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_distribution_names_every_score_in_order() {
        let d = Distribution::from_column(&[1, 0, 0, 0, 0, 0, 0, 0, 2, 3]);
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"1":1,"2":0,"3":0,"4":0,"5":0,"6":0,"7":0,"8":0,"9":2,"10":3}"#
        );
        assert_eq!(
            Distribution::from_column(&[4]).0,
            [4, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
    }
}
