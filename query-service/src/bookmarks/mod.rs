//! Bookmarks: `GET /me/bookmarks`, the caller's library from the bookmarks
//! projection, newest first. Only comics that still have a card in
//! `bookmarks.comics` show. [`counts_for`] gives comic documents and
//! `GET /comics/{id}/stats` their bookmark counts.

use std::collections::HashMap;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use comics_common::auth::User;
use comics_common::http::QueryParams;
use comics_common::Problem;
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::listing::{Page, PageParams, Paging};
use crate::state::QueryState;

/// `/me/bookmarks`: any valid bearer token.
pub fn my_routes() -> Router<QueryState> {
    Router::new().route("/me/bookmarks", get(my_bookmarks))
}

/// One of the caller's bookmarks.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct MyBookmark {
    pub comic_id: Uuid,
    pub title: String,
    pub cover_url: Option<String>,
    pub bookmarked_at: DateTime<Utc>,
}

#[utoipa::path(get, path = "/api/v1/me/bookmarks", tag = "bookmarks",
    params(PageParams),
    security(("bearer" = [])),
    responses((status = 200, description = "The caller's bookmarks, newest first", body = Page<MyBookmark>)))]
#[tracing::instrument(skip_all)]
async fn my_bookmarks(
    State(state): State<QueryState>,
    user: User,
    QueryParams(params): QueryParams<PageParams>,
) -> Result<Json<Page<MyBookmark>>, Problem> {
    let paging = params.paging()?;
    let (items, total) = of_user(&state.bookmarks, &user.sub, paging).await?;
    Ok(Json(paging.page(items, total)))
}

/// One page of `user`'s bookmarks, newest first, and how many there are.
#[tracing::instrument(skip_all)]
async fn of_user(
    pool: &PgPool,
    user: &str,
    paging: Paging,
) -> Result<(Vec<MyBookmark>, i64), sqlx::Error> {
    crate::listing::user_page(
        pool,
        "b.comic_id, c.title, c.cover_url, b.bookmarked_at",
        "bookmarks.bookmarks b JOIN bookmarks.comics c ON c.id = b.comic_id",
        "b.user_id",
        "b.bookmarked_at DESC, b.comic_id ASC",
        user,
        paging,
    )
    .await
}

/// How many users bookmarked each of those of `ids` that have bookmarks.
#[tracing::instrument(skip_all, fields(comics = ids.len()))]
pub async fn counts_for(pool: &PgPool, ids: &[Uuid]) -> Result<HashMap<Uuid, i64>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT comic_id, bookmarks::int8 FROM bookmarks.counts \
         WHERE comic_id = ANY($1) AND bookmarks > 0",
    )
    .bind(ids)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().collect())
}
