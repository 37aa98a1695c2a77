//! A comic's cover: `PUT /comics/{id}/cover` stores the image (bytes
//! before the event that names them) and records it on the comic; `DELETE`
//! removes it from the comic (the bytes stay until `storage gc`).

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use comics_common::auth::Admin;
use comics_common::http::{PathParams, RequestId};
use comics_common::Problem;
use comics_domain::{ComicCommand, ComicError};
use comics_storage::LIMIT_COVER;
use serde_json::json;
use uuid::Uuid;

use crate::error::{database, DomainProblem};
use crate::handle::Refused;
use crate::images::{self, describe, storage};
use crate::response::{metadata, no_content, with_token};
use crate::state::CommandState;

#[utoipa::path(put, path = "/api/v1/comics/{id}/cover", tag = "comics", operation_id = "put_cover",
    params(("id" = Uuid, Path, description = "The comic")),
    request_body(description = "The raw image bytes (the server checks the magic bytes and header; each side at most 20000 px)",
        content(("image/png"), ("image/jpeg"), ("image/webp"), ("image/gif"))),
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "The cover is set", body = crate::upload_schemas::CoverSet),
        (status = 404, description = "No such comic"),
        (status = 413, description = "Larger than 10 MiB"),
        (status = 415, description = "Not a PNG, JPEG, WebP or GIF image of the declared type"),
    ))]
#[tracing::instrument(skip_all, fields(comic_id = %id))]
pub(super) async fn put_cover(
    State(state): State<CommandState>,
    Admin(user): Admin,
    request: RequestId,
    PathParams(id): PathParams<Uuid>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let kind = images::declared(&headers, LIMIT_COVER)?;
    let storage = storage(&state)?;
    // Refused before any byte is read when the comic is not there.
    let (comic, _) = state.stores.comics.load(id).await.map_err(Refused::from)?;
    if comic.details.is_none() || comic.deleted {
        return Err(ComicError::NotFound.problem());
    }
    let image = images::store(storage, kind, body.into_data_stream(), LIMIT_COVER).await?;
    let _lock = state.comic_locks.lock(id).await.map_err(database)?;
    let meta = metadata(&user, &request);
    let command = ComicCommand::SetCover {
        image: image.clone(),
    };
    let done = state
        .stores
        .comics
        .execute(id, command, &meta, None)
        .await?;
    let mut body = describe(&image);
    body["id"] = json!(id);
    body["version"] = json!(done.version);
    body["cover_url"] = json!(format!("/api/v1/comics/{id}/cover"));
    Ok(with_token(Json(body).into_response(), &done.token))
}

#[utoipa::path(delete, path = "/api/v1/comics/{id}/cover", tag = "comics", operation_id = "remove_cover",
    params(("id" = Uuid, Path, description = "The comic")),
    security(("bearer" = ["admin"])),
    responses(
        (status = 204, description = "The comic has no cover"),
        (status = 404, description = "No such comic"),
    ))]
#[tracing::instrument(skip_all, fields(comic_id = %id))]
pub(super) async fn remove_cover(
    State(state): State<CommandState>,
    Admin(user): Admin,
    request: RequestId,
    PathParams(id): PathParams<Uuid>,
) -> Result<Response, Problem> {
    let _lock = state.comic_locks.lock(id).await.map_err(database)?;
    let meta = metadata(&user, &request);
    let command = ComicCommand::RemoveCover;
    let done = state
        .stores
        .comics
        .execute(id, command, &meta, None)
        .await?;
    Ok(no_content(&done.token))
}
