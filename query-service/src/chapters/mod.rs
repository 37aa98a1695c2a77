//! Chapters: `GET /comics/{id}/chapters` (a comic's chapters in reading
//! order) and `GET /chapters/{id}` (one chapter with its neighbours).

mod document;
mod query;
mod store;

use axum::extract::State;
use axum::routing::get;
use axum::{Extension, Json, Router};
use comics_common::http::{PathParams, QueryParams};
use comics_common::Problem;
use uuid::Uuid;

use crate::cache::Scope;
use crate::listing::Page;
use crate::state::QueryState;
use document::{ChapterDocument, ChapterSummary};
use query::{ChapterListParams, ChapterQuery};

pub fn routes() -> Router<QueryState> {
    Router::new()
        .route("/comics/{id}/chapters", get(list_chapters))
        .route("/chapters/{id}", get(get_chapter))
}

#[utoipa::path(get, path = "/api/v1/comics/{id}/chapters", tag = "chapters",
    params(("id" = Uuid, Path, description = "The comic"), ChapterListParams),
    responses(
        (status = 200, description = "The comic's chapters in reading order", body = Page<ChapterSummary>),
        (status = 404, description = "No such comic"),
    ))]
#[tracing::instrument(skip_all, fields(comic_id = %comic_id))]
async fn list_chapters(
    State(state): State<QueryState>,
    PathParams(comic_id): PathParams<Uuid>,
    QueryParams(params): QueryParams<ChapterListParams>,
) -> Result<(Extension<Scope>, Json<Page<ChapterSummary>>), Problem> {
    let query = ChapterQuery::parse(params)?;
    if !store::comic_exists(&state.catalog, comic_id).await? {
        return Err(crate::comics::not_found(comic_id));
    }
    let (items, total) = store::list(&state.catalog, comic_id, &query).await?;
    Ok((
        Extension(Scope(comic_id)),
        Json(query.paging.page(items, total)),
    ))
}

#[utoipa::path(get, path = "/api/v1/chapters/{id}", tag = "chapters",
    params(("id" = Uuid, Path, description = "The chapter")),
    responses(
        (status = 200, description = "The chapter with its neighbours", body = ChapterDocument),
        (status = 404, description = "No such chapter"),
    ))]
#[tracing::instrument(skip_all, fields(chapter_id = %id))]
async fn get_chapter(
    State(state): State<QueryState>,
    PathParams(id): PathParams<Uuid>,
) -> Result<(Extension<Scope>, Json<ChapterDocument>), Problem> {
    // The chapter shows its comic's other chapters (prev, next): it is
    // fresh until that comic changes.
    store::find(&state.catalog, id)
        .await?
        .map(|chapter| (Extension(Scope(chapter.chapter.comic_id)), Json(chapter)))
        .ok_or_else(|| Problem::not_found(format!("there is no chapter {id}")))
}
