//! Ratings: `GET /me/ratings` (the caller's scores) and
//! `GET /rankings/top-rated`, from the ratings projection; [`stats`] gives
//! every comic document its `rating`.

pub mod stats;
mod store;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use comics_common::auth::User;
use comics_common::http::QueryParams;
use comics_common::Problem;
use serde::{Deserialize, Serialize};

use crate::listing::{bad_param, given, Page, PageParams, Paging};
use crate::state::QueryState;
pub use stats::Rating;
pub use store::ComicCard;
use store::{MyRating, RankedComic};

/// `/me/ratings`: any valid bearer token.
pub fn my_routes() -> Router<QueryState> {
    Router::new().route("/me/ratings", get(my_ratings))
}

/// `/rankings/top-rated`: public.
pub fn ranking_routes() -> Router<QueryState> {
    Router::new().route("/rankings/top-rated", get(top_rated))
}

#[utoipa::path(get, path = "/api/v1/me/ratings", tag = "ratings",
    params(PageParams),
    security(("bearer" = [])),
    responses((status = 200, description = "The caller's ratings, newest first", body = Page<MyRating>)))]
#[tracing::instrument(skip_all)]
async fn my_ratings(
    State(state): State<QueryState>,
    user: User,
    QueryParams(params): QueryParams<PageParams>,
) -> Result<Json<Page<MyRating>>, Problem> {
    let paging = params.paging()?;
    let (items, total) = store::of_user(&state.ratings, &user.sub, paging).await?;
    Ok(Json(paging.page(items, total)))
}

/// The query string of `GET /rankings/top-rated`; unknown parameters are ignored.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TopRatedParams {
    /// Items per page (default 20).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// Items to skip (default 0).
    #[param(value_type = Option<i64>, minimum = 0, maximum = 1_000_000_000)]
    offset: Option<String>,
    /// Only comics with at least this many votes (default 1).
    #[param(value_type = Option<i64>, minimum = 1)]
    min_votes: Option<String>,
}

/// `GET /rankings/top-rated`: the page and the `min_votes` it was cut at.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TopRated {
    pub min_votes: i64,
    #[serde(flatten)]
    pub page: Page<RankedComic>,
}

/// `min_votes`: an integer of at least 1 (default 1).
fn parse_min_votes(raw: Option<&str>) -> Result<i64, Problem> {
    match raw {
        None => Ok(1),
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| bad_param("min_votes", "must be an integer of at least 1")),
    }
}

#[utoipa::path(get, path = "/api/v1/rankings/top-rated", tag = "rankings",
    params(TopRatedParams),
    responses((status = 200, description = "Comics by Bayesian average, then vote count", body = TopRated)))]
#[tracing::instrument(skip_all)]
async fn top_rated(
    State(state): State<QueryState>,
    QueryParams(params): QueryParams<TopRatedParams>,
) -> Result<Json<TopRated>, Problem> {
    let min_votes = parse_min_votes(given(&params.min_votes))?;
    let paging = Paging::parse(given(&params.limit), given(&params.offset))?;
    let (items, total) = store::top_rated(&state.ratings, min_votes, paging).await?;
    Ok(Json(TopRated {
        min_votes,
        page: paging.page(items, total),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_votes_is_at_least_one_and_defaults_to_one() {
        assert_eq!(parse_min_votes(None).unwrap(), 1);
        assert_eq!(parse_min_votes(Some("3")).unwrap(), 3);
        for bad in ["0", "-2", "many", "1.5"] {
            let problem = parse_min_votes(Some(bad)).unwrap_err();
            assert_eq!(problem.status, 400, "{bad}");
            assert_eq!(problem.errors[0].field, "min_votes");
        }
    }
}
