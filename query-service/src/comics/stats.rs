//! `GET /comics/{id}/stats`: a comic's rating with its distribution of
//! scores, its views all time and per window, and its bookmark count, each
//! from its own projection (read concurrently and merged).

use axum::extract::State;
use axum::{Extension, Json};
use comics_common::http::PathParams;
use comics_common::Problem;
use serde::Serialize;
use uuid::Uuid;

use super::{not_found, rerate, store};
use crate::cache::{ComicAnswer, Scope};
use crate::popularity::store::{views_of, Views};
use crate::ratings::stats::{detailed, DetailedRating};
use crate::state::QueryState;

/// The body of `GET /comics/{id}/stats`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ComicStats {
    pub rating: DetailedRating,
    pub views: Views,
    pub bookmarks: i64,
}

#[utoipa::path(get, path = "/api/v1/comics/{id}/stats", tag = "comics",
    params(("id" = Uuid, Path, description = "The comic")),
    responses(
        (status = 200, description = "Rating with its distribution, views per window, bookmarks", body = ComicStats),
        (status = 404, description = "No such comic"),
    ))]
#[tracing::instrument(skip_all, fields(comic_id = %id))]
pub async fn comic_stats(
    State(state): State<QueryState>,
    PathParams(id): PathParams<Uuid>,
) -> Result<ComicAnswer<ComicStats>, Problem> {
    let now = state.now();
    let ids = [id];
    let (exists, rating, views, bookmarks) = tokio::try_join!(
        store::exists(&state.catalog, id),
        detailed(&state.ratings, id),
        views_of(&state.popularity, id, now),
        crate::bookmarks::counts_for(&state.bookmarks, &ids),
    )?;
    if !exists {
        return Err(not_found(id));
    }
    let stats = ComicStats {
        rating,
        views,
        bookmarks: bookmarks.get(&id).copied().unwrap_or(0),
    };
    let rerate = rerate(&stats.rating.rating);
    Ok((Extension(Scope(id)), rerate, Json(stats)))
}
