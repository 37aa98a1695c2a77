//! Comics: `GET /comics` (filtered, sorted, paged by offset or cursor) and
//! `GET /comics/{id}`, each comic read whole from the catalog projection
//! (which keeps its votes, views and bookmarks), and `GET /comics/{id}/stats`,
//! from the ratings, popularity and bookmarks projections.

mod document;
mod keyset;
mod query;
pub(crate) mod stats;
mod store;

use axum::extract::State;
use axum::routing::get;
use axum::{Extension, Json, Router};
use comics_common::http::{PathParams, QueryParams};
use comics_common::Problem;
use uuid::Uuid;

use crate::cache::{ComicAnswer, Rerate, Scope};
use crate::listing::Page;
use crate::ratings::Rating;
use crate::state::QueryState;
use document::ComicDocument;
use query::{ComicQuery, ListParams};
use serde::Serialize;

/// `GET /comics` and `GET /comics/{id}`.
pub fn routes() -> Router<QueryState> {
    Router::new()
        .route("/comics", get(list_comics))
        .route("/comics/{id}", get(get_comic))
}

/// `GET /comics/{id}/stats`.
pub fn stats_routes() -> Router<QueryState> {
    Router::new().route("/comics/{id}/stats", get(stats::comic_stats))
}

/// `GET /comics`: a page, and `next`, the cursor to pass as `after` for the
/// page that follows (null on the last page).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ComicList {
    #[serde(flatten)]
    page: Page<ComicDocument>,
    next: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/comics", tag = "comics",
    params(ListParams),
    responses(
        (status = 200, description = "One page of comics; `next` is the cursor for `after`", body = ComicList),
        (status = 400, description = "A malformed or out-of-range query parameter (named in `errors`)"),
    ))]
#[tracing::instrument(skip_all)]
async fn list_comics(
    State(state): State<QueryState>,
    QueryParams(params): QueryParams<ListParams>,
) -> Result<Json<ComicList>, Problem> {
    let query = ComicQuery::parse(params)?;
    let found = store::list(&state.catalog, &query).await?;
    Ok(Json(ComicList {
        page: query.paging.page(found.items, found.total),
        next: found.next,
    }))
}

#[utoipa::path(get, path = "/api/v1/comics/{id}", tag = "comics",
    params(("id" = Uuid, Path, description = "The comic")),
    responses(
        (status = 200, description = "The comic document", body = ComicDocument),
        (status = 404, description = "No such comic"),
    ))]
#[tracing::instrument(skip_all, fields(comic_id = %id))]
async fn get_comic(
    State(state): State<QueryState>,
    PathParams(id): PathParams<Uuid>,
) -> Result<ComicAnswer<ComicDocument>, Problem> {
    let comic = store::find(&state.catalog, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    let rerate = rerate(&comic.rating);
    Ok((Extension(Scope(id)), rerate, Json(comic)))
}

/// For the read cache: how to re-rate a comic's kept answer when the
/// global mean moves (nothing to do without votes: the average is null).
pub fn rerate(rating: &Rating) -> Option<Extension<Rerate>> {
    rating.average.map(|average| {
        Extension(Rerate {
            votes: rating.count,
            average,
        })
    })
}

/// The 404 for a comic that does not exist (or was deleted).
pub fn not_found(id: Uuid) -> Problem {
    Problem::not_found(format!("there is no comic {id}"))
}
