//! Pages and covers: `GET /chapters/{id}/pages` (the page list, in page
//! order), `GET /chapters/{id}/pages/{n}` and `GET /comics/{id}/cover` (the
//! bytes, revalidated by ETag), and `GET /images/{sha256}` (the
//! content-addressed, immutable URL each page's `url` names), all from the
//! catalog's metadata: a page or cover of a deleted chapter or comic is
//! gone from the catalog, so it is 404 at once. A page's row may be kept in
//! memory ([`crate::page_rows`]) until the catalog announces a change to its
//! comic, as the read cache keeps a comic's document; the bytes themselves
//! are kept by sha256 ([`images::ImageCache`]) and served only for a row the
//! catalog still shows.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use comics_common::consistency;
use comics_common::http::{PathParams, QueryParams};
use comics_common::Problem;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use crate::images::{self, Stored, IMMUTABLE, REVALIDATE};
use crate::listing::{bad_param, given};
use crate::page_rows;
use crate::state::QueryState;

pub fn routes() -> Router<QueryState> {
    Router::new()
        .route("/chapters/{id}/pages", get(list_pages))
        .route("/chapters/{id}/pages/{n}", get(page_bytes))
        .route("/comics/{id}/cover", get(cover_bytes))
        .route("/images/{sha256}", get(image_bytes))
}

/// One page as the list shows it.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct PageItem {
    pub number: i32,
    pub url: String,
    pub content_type: String,
    pub width: i32,
    pub height: i32,
    pub size: i64,
    pub sha256: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PageList {
    pub items: Vec<PageItem>,
}

fn no_chapter(id: Uuid) -> Problem {
    Problem::not_found(format!("there is no chapter {id}"))
}

#[utoipa::path(get, path = "/api/v1/chapters/{id}/pages", tag = "pages",
    params(("id" = Uuid, Path, description = "The chapter")),
    responses(
        (status = 200, description = "The chapter's pages in order", body = PageList),
        (status = 404, description = "No such chapter"),
    ))]
#[tracing::instrument(skip_all, fields(chapter_id = %id))]
async fn list_pages(
    State(state): State<QueryState>,
    PathParams(id): PathParams<Uuid>,
) -> Result<Json<PageList>, Problem> {
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM catalog.chapters ch \
         JOIN catalog.comics c ON c.id = ch.comic_id WHERE ch.id = $1)",
    )
    .bind(id)
    .fetch_one(&state.catalog)
    .await?;
    if !exists {
        return Err(no_chapter(id));
    }
    let items = sqlx::query_as(
        "SELECT number, '/api/v1/images/' || sha256 AS url, content_type, width, height, size, sha256 \
         FROM catalog.pages WHERE chapter_id = $1 ORDER BY number",
    )
    .bind(id)
    .fetch_all(&state.catalog)
    .await?;
    Ok(Json(PageList { items }))
}

#[utoipa::path(get, path = "/api/v1/chapters/{id}/pages/{n}", tag = "pages",
    params(("id" = Uuid, Path, description = "The chapter"), ("n" = i32, Path, description = "The page number", minimum = 1),
        ("If-None-Match" = Option<String>, Header, description = "An ETag seen before"),
        ("Range" = Option<String>, Header, description = "One byte range, `bytes=start-end`")),
    responses(
        (status = 200, description = "The image bytes", content(("image/png"), ("image/jpeg"), ("image/webp"), ("image/gif")),
            headers(("ETag" = String, description = "The image's sha256, quoted"), ("Cache-Control" = String))),
        (status = 304, description = "Not modified (`If-None-Match` matched)"),
        (status = 206, description = "The requested byte range", content(("image/png"), ("image/jpeg"), ("image/webp"), ("image/gif"))),
        (status = 416, description = "The range cannot be served"),
        (status = 404, description = "No such chapter or page"),
    ))]
#[tracing::instrument(skip_all, fields(chapter_id = %id, number))]
async fn page_bytes(
    State(state): State<QueryState>,
    PathParams((id, number)): PathParams<(Uuid, i32)>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let storage = images::storage(&state)?;
    // A read with a consistency token reads the catalog, as the read cache.
    let row = match &state.page_rows {
        Some(rows) if !headers.contains_key(consistency::HEADER) => {
            rows.get(&state.catalog, id, number).await?
        }
        _ => page_rows::read(&state.catalog, id, number)
            .await?
            .map(Arc::new),
    };
    let row =
        row.ok_or_else(|| Problem::not_found(format!("chapter {id} has no page {number}")))?;
    images::serve(
        storage,
        state.images.as_deref(),
        &row.stored,
        &headers,
        REVALIDATE,
    )
    .await
}

/// `?size=` of a cover read: the width of a thumbnail.
#[derive(Debug, Deserialize)]
struct CoverQuery {
    size: Option<String>,
}

/// The thumbnail widths a cover read accepts.
const SIZES: [i32; 2] = [256, 512];

#[utoipa::path(get, path = "/api/v1/comics/{id}/cover", tag = "comics",
    params(("id" = Uuid, Path, description = "The comic"),
        ("If-None-Match" = Option<String>, Header, description = "An ETag seen before"),
        ("Range" = Option<String>, Header, description = "One byte range, `bytes=start-end`"),
        ("size" = Option<i32>, Query, description = "A thumbnail's width, 256 or 512 (aspect kept); the original is served until the thumbnail is made")),
    responses(
        (status = 200, description = "The image bytes", content(("image/png"), ("image/jpeg"), ("image/webp"), ("image/gif")),
            headers(("ETag" = String, description = "The image's sha256, quoted"), ("Cache-Control" = String))),
        (status = 304, description = "Not modified (`If-None-Match` matched)"),
        (status = 206, description = "The requested byte range", content(("image/png"), ("image/jpeg"), ("image/webp"), ("image/gif"))),
        (status = 416, description = "The range cannot be served"),
        (status = 404, description = "No such comic, or it has no cover"),
    ))]
#[tracing::instrument(skip_all, fields(comic_id = %id))]
async fn cover_bytes(
    State(state): State<QueryState>,
    PathParams(id): PathParams<Uuid>,
    QueryParams(query): QueryParams<CoverQuery>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let width = match given(&query.size) {
        None => None,
        Some(size) => Some(
            size.parse::<i32>()
                .ok()
                .filter(|w| SIZES.contains(w))
                .ok_or_else(|| bad_param("size", "must be 256 or 512 (a width in px)"))?,
        ),
    };
    let storage = images::storage(&state)?;
    let cover: Option<Stored> = sqlx::query_as(
        "SELECT cover ->> 'content_type' AS content_type, (cover ->> 'size')::int8 AS size, \
                cover ->> 'sha256' AS sha256, cover ->> 'key' AS key \
         FROM catalog.comics WHERE id = $1 AND cover IS NOT NULL",
    )
    .bind(id)
    .fetch_optional(&state.catalog)
    .await?;
    let cover = cover.ok_or_else(|| Problem::not_found(format!("comic {id} has no cover")))?;
    // The thumbnail of the cover the catalog shows, once it is made; the
    // original until then (or when the cover is no wider than asked).
    let thumbnail = match width {
        Some(width) => thumbnail(&state.thumbnails, id, width, &cover.sha256).await?,
        None => None,
    };
    images::serve(
        storage,
        state.images.as_deref(),
        thumbnail.as_ref().unwrap_or(&cover),
        &headers,
        REVALIDATE,
    )
    .await
}

/// The thumbnail `width` px wide of comic `id`'s cover `source`, if made.
async fn thumbnail(
    pool: &PgPool,
    id: Uuid,
    width: i32,
    source: &str,
) -> Result<Option<Stored>, sqlx::Error> {
    sqlx::query_as(
        "SELECT content_type, size, sha256, key FROM thumbnails.thumbnails \
         WHERE comic_id = $1 AND width = $2 AND source_sha256 = $3",
    )
    .bind(id)
    .bind(width)
    .bind(source)
    .fetch_optional(pool)
    .await
}

#[utoipa::path(get, path = "/api/v1/images/{sha256}", tag = "pages",
    params(("sha256" = String, Path, description = "The image's sha256 (hex), as in a page's `url`"),
        ("If-None-Match" = Option<String>, Header, description = "An ETag seen before"),
        ("Range" = Option<String>, Header, description = "One byte range, `bytes=start-end`")),
    responses(
        (status = 200, description = "The image bytes", content(("image/png"), ("image/jpeg"), ("image/webp"), ("image/gif")),
            headers(("ETag" = String, description = "The image's sha256, quoted"), ("Cache-Control" = String))),
        (status = 304, description = "Not modified (`If-None-Match` matched)"),
        (status = 206, description = "The requested byte range", content(("image/png"), ("image/jpeg"), ("image/webp"), ("image/gif"))),
        (status = 416, description = "The range cannot be served"),
        (status = 404, description = "No page or cover shows this image"),
    ))]
#[tracing::instrument(skip_all)]
async fn image_bytes(
    State(state): State<QueryState>,
    PathParams(sha256): PathParams<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let storage = images::storage(&state)?;
    let well_formed = sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit());
    let stored = match well_formed {
        true => named(&state.catalog, &sha256.to_ascii_lowercase()).await?,
        false => None,
    };
    let stored = stored.ok_or_else(|| Problem::not_found("no page or cover shows this image"))?;
    images::serve(
        storage,
        state.images.as_deref(),
        &stored,
        &headers,
        IMMUTABLE,
    )
    .await
}

/// The bytes with this sha256 if a live page or cover shows them.
async fn named(pool: &PgPool, sha256: &str) -> Result<Option<Stored>, sqlx::Error> {
    sqlx::query_as(
        "(SELECT content_type, size, sha256, key FROM catalog.pages WHERE sha256 = $1 LIMIT 1) \
         UNION ALL \
         (SELECT cover ->> 'content_type', (cover ->> 'size')::int8, cover ->> 'sha256', cover ->> 'key' \
          FROM catalog.comics WHERE cover ->> 'sha256' = $1 AND cover IS NOT NULL LIMIT 1) \
         LIMIT 1",
    )
    .bind(sha256)
    .fetch_optional(pool)
    .await
}
