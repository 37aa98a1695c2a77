//! Page commands: put page `n` (new → 201, replaced → 200), append pages
//! from a multipart body (all or nothing), remove one page or all. Image
//! bytes are stored (content-addressed, flushed) before the event naming
//! them is appended; bytes of a refused upload are left for `storage gc`.
//! Every page write runs under its comic's lock, with chapter writes, so
//! the numbers it answers are the ones the events record.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use axum::{Json, Router};
use comics_common::auth::Admin;
use comics_common::http::{PathParams, RequestId};
use comics_common::Problem;
use comics_domain::values::Image;
use comics_domain::{PageCommand, PageError, PageServices};
use comics_storage::LIMIT_PAGE;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::error::{database, DomainProblem};
use crate::handle::Refused;
use crate::images::{self, describe, storage};
use crate::page_puts::PutFailed;
use crate::response::{metadata, no_content, with_token};
use crate::state::CommandState;

/// The most pages one multipart upload may append.
const MAX_PARTS: usize = 200;
/// The largest multipart body (each part is also held to 20 MiB).
const MAX_MULTIPART: usize = 512 * 1024 * 1024;

pub fn routes() -> Router<CommandState> {
    Router::new()
        .route(
            "/api/v1/chapters/{id}/pages/{n}",
            put(put_page).delete(remove),
        )
        .route(
            "/api/v1/chapters/{id}/pages",
            axum::routing::post(append)
                .layer(DefaultBodyLimit::max(MAX_MULTIPART))
                .delete(remove_all),
        )
}

/// The comic of a live chapter, or 404 (asked before reading any bytes).
async fn comic_of(state: &CommandState, chapter_id: Uuid) -> Result<Uuid, Problem> {
    match state.stores.page_facts.live_chapter(chapter_id).await {
        Ok(Some(comic_id)) => Ok(comic_id),
        Ok(None) => Err(PageError::ChapterNotFound.problem()),
        Err(why) => Err(PageError::Unavailable(why).problem()),
    }
}

/// `problem` about the `index`th part of a multipart body.
fn in_part(index: usize, problem: Problem) -> Problem {
    let detail = problem.detail.clone().unwrap_or_default();
    problem.with_detail(format!("part {index}: {detail}"))
}

fn page_json(number: u32, image: &Image) -> Value {
    let mut page = describe(image);
    page["number"] = json!(number);
    page
}

#[utoipa::path(put, path = "/api/v1/chapters/{id}/pages/{n}", tag = "pages", operation_id = "put_page",
    params(("id" = Uuid, Path, description = "The chapter"), ("n" = u32, Path, description = "The page number", minimum = 1)),
    request_body(description = "The raw image bytes (the server checks the magic bytes and header; each side at most 20000 px)",
        content(("image/png"), ("image/jpeg"), ("image/webp"), ("image/gif"))),
    security(("bearer" = ["admin"])),
    responses(
        (status = 201, description = "A new page", body = crate::upload_schemas::PageWritten, headers(("Location" = String))),
        (status = 200, description = "The page was replaced", body = crate::upload_schemas::PageWritten, headers(("Location" = String))),
        (status = 404, description = "No such chapter"),
        (status = 422, description = "`n` is below 1"),
        (status = 413, description = "Larger than 20 MiB"),
        (status = 415, description = "Not a PNG, JPEG, WebP or GIF image of the declared type"),
    ))]
#[tracing::instrument(skip_all, fields(chapter_id = %chapter_id, number = number))]
async fn put_page(
    State(state): State<CommandState>,
    Admin(user): Admin,
    request: RequestId,
    PathParams((chapter_id, number)): PathParams<(Uuid, u32)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    if number < 1 {
        return Err(PageError::BadNumber.problem());
    }
    let kind = images::declared(&headers, LIMIT_PAGE)?;
    let storage = storage(&state)?;
    let comic_id = comic_of(&state, chapter_id).await?;
    let stream = body.into_data_stream();
    let image = images::store(storage, kind, stream, LIMIT_PAGE).await?;
    let meta = metadata(&user, &request);
    let command = PageCommand::Put {
        chapter_id,
        number,
        image: image.clone(),
    };
    let put = state.page_puts.put(comic_id, chapter_id, command, meta);
    let (done, replaced) = match put.await {
        Ok(outcome) => outcome?,
        Err(PutFailed::Lock(e)) => return Err(database(e)),
        Err(PutFailed::Lost) => {
            return Err(Problem::internal(
                &"the page's commit ended without an answer",
            ))
        }
    };
    let mut body = page_json(number, &image);
    body["id"] = json!(chapter_id);
    body["version"] = json!(done.version);
    let status = if replaced {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let mut response = (status, Json(body)).into_response();
    let location = format!("/api/v1/chapters/{chapter_id}/pages/{number}");
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(with_token(response, &done.token))
}

#[utoipa::path(post, path = "/api/v1/chapters/{id}/pages", tag = "pages", operation_id = "append_pages",
    params(("id" = Uuid, Path, description = "The chapter")),
    request_body(content = crate::upload_schemas::PageFiles, content_type = "multipart/form-data",
        description = "One or more `file` parts, appended after the last page in part order (all or nothing)"),
    security(("bearer" = ["admin"])),
    responses(
        (status = 201, description = "The pages appended", body = crate::upload_schemas::PagesAppended, headers(("Location" = String))),
        (status = 404, description = "No such chapter"),
        (status = 413, description = "A part is larger than 20 MiB, or the body larger than 512 MiB"),
        (status = 415, description = "Not multipart/form-data, or a part is not an image of its declared type"),
    ))]
#[tracing::instrument(skip_all, fields(chapter_id = %chapter_id))]
async fn append(
    State(state): State<CommandState>,
    Admin(user): Admin,
    request: RequestId,
    PathParams(chapter_id): PathParams<Uuid>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, Problem> {
    let mut multipart = multipart.map_err(|e| {
        images::unsupported(format!("send multipart/form-data with `file` parts ({e})"))
    })?;
    let storage = storage(&state)?;
    let comic_id = comic_of(&state, chapter_id).await?;
    let mut stored = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(part_problem)? {
        let index = stored.len() + 1;
        if field.name() != Some("file") {
            return Err(Problem::bad_request(format!(
                "part {index} is named {:?}; every part must be named \"file\"",
                field.name().unwrap_or("")
            )));
        }
        if stored.len() == MAX_PARTS {
            return Err(Problem::bad_request(format!(
                "at most {MAX_PARTS} pages per upload"
            )));
        }
        let kind = images::kind_of(field.content_type()).map_err(|p| in_part(index, p))?;
        let image = images::store(storage, kind, Box::pin(field), LIMIT_PAGE)
            .await
            .map_err(|p| in_part(index, p))?;
        stored.push(image);
    }
    if stored.is_empty() {
        return Err(PageError::NothingToAppend.problem());
    }
    let meta = metadata(&user, &request);
    let _lock = state.comic_locks.lock(comic_id).await.map_err(database)?;
    let pages = &state.stores.pages;
    let (current, _) = pages.load(chapter_id).await.map_err(Refused::from)?;
    let first = current.next_number();
    let items: Vec<Value> = (first..)
        .zip(&stored)
        .map(|(n, image)| page_json(n, image))
        .collect();
    let command = PageCommand::Append {
        chapter_id,
        images: stored,
    };
    let done = pages.execute(chapter_id, command, &meta, None).await?;
    let body = json!({"id": chapter_id, "version": done.version, "items": items});
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    let location = format!("/api/v1/chapters/{chapter_id}/pages");
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(with_token(response, &done.token))
}

/// A multipart body that cannot be read: over the limit (413) or malformed (400).
fn part_problem(e: axum::extract::multipart::MultipartError) -> Problem {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        images::too_large(MAX_MULTIPART as u64)
    } else {
        Problem::bad_request(format!(
            "the multipart body cannot be read: {}",
            e.body_text()
        ))
    }
}

#[utoipa::path(delete, path = "/api/v1/chapters/{id}/pages/{n}", tag = "pages", operation_id = "remove_page",
    params(("id" = Uuid, Path, description = "The chapter"), ("n" = u32, Path, description = "The page number", minimum = 1)),
    security(("bearer" = ["admin"])),
    responses(
        (status = 204, description = "Removed; later pages keep their numbers"),
        (status = 404, description = "No such chapter or page"),
    ))]
#[tracing::instrument(skip_all, fields(chapter_id = %chapter_id, number = number))]
async fn remove(
    State(state): State<CommandState>,
    Admin(user): Admin,
    request: RequestId,
    PathParams((chapter_id, number)): PathParams<(Uuid, u32)>,
) -> Result<Response, Problem> {
    let command = PageCommand::Remove { chapter_id, number };
    run(&state, &user, &request, chapter_id, command).await
}

#[utoipa::path(delete, path = "/api/v1/chapters/{id}/pages", tag = "pages", operation_id = "remove_all_pages",
    params(("id" = Uuid, Path, description = "The chapter")),
    security(("bearer" = ["admin"])),
    responses(
        (status = 204, description = "Every page removed"),
        (status = 404, description = "No such chapter"),
    ))]
#[tracing::instrument(skip_all, fields(chapter_id = %chapter_id))]
async fn remove_all(
    State(state): State<CommandState>,
    Admin(user): Admin,
    request: RequestId,
    PathParams(chapter_id): PathParams<Uuid>,
) -> Result<Response, Problem> {
    let command = PageCommand::RemoveAll { chapter_id };
    run(&state, &user, &request, chapter_id, command).await
}

async fn run(
    state: &CommandState,
    user: &comics_common::auth::User,
    request: &RequestId,
    chapter_id: Uuid,
    command: PageCommand,
) -> Result<Response, Problem> {
    let comic_id = comic_of(state, chapter_id).await?;
    let meta = metadata(user, request);
    let _lock = state.comic_locks.lock(comic_id).await.map_err(database)?;
    let done = state
        .stores
        .pages
        .execute(chapter_id, command, &meta, None)
        .await?;
    Ok(no_content(&done.token))
}
