//! Comics: `GET /comics` (filtered, sorted, paged) and `GET /comics/{id}`.

mod document;
mod query;
mod store;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use comics_common::http::{PathParams, QueryParams};
use comics_common::Problem;
use uuid::Uuid;

use crate::listing::Page;
use crate::state::QueryState;
use document::ComicDocument;
use query::{ComicQuery, ListParams};

pub fn routes() -> Router<QueryState> {
    Router::new()
        .route("/comics", get(list_comics))
        .route("/comics/{id}", get(get_comic))
}

#[tracing::instrument(skip_all)]
async fn list_comics(
    State(state): State<QueryState>,
    QueryParams(params): QueryParams<ListParams>,
) -> Result<Json<Page<ComicDocument>>, Problem> {
    let query = ComicQuery::parse(params)?;
    let (items, total) = store::list(&state.catalog, &query).await?;
    Ok(Json(query.paging.page(items, total)))
}

#[tracing::instrument(skip_all, fields(comic_id = %id))]
async fn get_comic(
    State(state): State<QueryState>,
    PathParams(id): PathParams<Uuid>,
) -> Result<Json<ComicDocument>, Problem> {
    store::find(&state.catalog, id)
        .await?
        .map(Json)
        .ok_or_else(|| not_found(id))
}

/// The 404 for a comic that does not exist (or was deleted).
pub fn not_found(id: Uuid) -> Problem {
    Problem::not_found(format!("there is no comic {id}"))
}
