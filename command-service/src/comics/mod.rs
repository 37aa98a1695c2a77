//! Comic commands: create, change (with `If-Match`), delete, and the cover.

pub(crate) mod cover;
pub(crate) mod dto;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{patch, post};
use axum::Router;
use comics_common::auth::Admin;
use comics_common::http::{JsonBody, PathParams, RequestId};
use comics_common::Problem;
use comics_domain::ComicCommand;
use uuid::Uuid;

use crate::error::database;
use crate::response::{created, if_match, metadata, no_content, ok, Versioned};
use crate::state::CommandState;

pub fn routes() -> Router<CommandState> {
    Router::new()
        .route("/api/v1/comics", post(create))
        .route("/api/v1/comics/{id}", patch(change).delete(delete))
        .route(
            "/api/v1/comics/{id}/cover",
            axum::routing::put(cover::put_cover).delete(cover::remove_cover),
        )
}

#[utoipa::path(post, path = "/api/v1/comics", tag = "comics", operation_id = "create_comic",
    request_body = dto::CreateComic,
    security(("bearer" = ["admin"])),
    responses(
        (status = 201, description = "Created", body = Versioned, headers(("Location" = String))),
    ))]
#[tracing::instrument(skip_all)]
async fn create(
    State(state): State<CommandState>,
    Admin(user): Admin,
    request: RequestId,
    JsonBody(body): JsonBody<dto::CreateComic>,
) -> Result<Response, Problem> {
    let details = body.parse()?;
    let id = Uuid::now_v7();
    let command = ComicCommand::Create {
        comic_id: id,
        details,
    };
    let meta = metadata(&user, &request);
    let done = state
        .stores
        .comics
        .execute(id, command, &meta, None)
        .await?;
    tracing::info!(comic_id = %id, "comic created");
    let location = format!("/api/v1/comics/{id}");
    Ok(created(location, id, done.version, &done.token))
}

#[utoipa::path(patch, path = "/api/v1/comics/{id}", tag = "comics", operation_id = "change_comic",
    params(("id" = Uuid, Path, description = "The comic"), ("If-Match" = Option<String>, Header, description = "The version this change was made against, quoted (`\"3\"`); `*` for any. Stale → 412")),
    request_body = dto::ChangeComic,
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "Changed", body = Versioned, headers(("ETag" = String, description = "The new version, quoted"))),
        (status = 404, description = "No such comic"),
        (status = 412, description = "`If-Match` names another version"),
    ))]
#[tracing::instrument(skip_all, fields(comic_id = %id))]
async fn change(
    State(state): State<CommandState>,
    Admin(user): Admin,
    request: RequestId,
    PathParams(id): PathParams<Uuid>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<dto::ChangeComic>,
) -> Result<Response, Problem> {
    let expected = if_match(&headers)?;
    let changes = body.parse()?;
    // Serialised with every other write on this comic, so concurrent
    // changes queue instead of exhausting the conflict retries.
    let _lock = state.comic_locks.lock(id).await.map_err(database)?;
    let meta = metadata(&user, &request);
    let command = ComicCommand::Update(changes);
    let comics = &state.stores.comics;
    let done = comics.execute(id, command, &meta, expected).await?;
    Ok(ok(id, done.version, &done.token))
}

#[utoipa::path(delete, path = "/api/v1/comics/{id}", tag = "comics", operation_id = "delete_comic",
    params(("id" = Uuid, Path, description = "The comic")),
    security(("bearer" = ["admin"])),
    responses(
        (status = 204, description = "Deleted, with its chapters, pages, ratings and rankings"),
        (status = 404, description = "No such comic"),
    ))]
#[tracing::instrument(skip_all, fields(comic_id = %id))]
async fn delete(
    State(state): State<CommandState>,
    Admin(user): Admin,
    request: RequestId,
    PathParams(id): PathParams<Uuid>,
) -> Result<Response, Problem> {
    // Serialised with chapter commands on this comic.
    let _lock = state.comic_locks.lock(id).await.map_err(database)?;
    let meta = metadata(&user, &request);
    let command = ComicCommand::Delete;
    let done = state
        .stores
        .comics
        .execute(id, command, &meta, None)
        .await?;
    if let Some(views) = &state.views {
        views.forget(id);
    }
    tracing::info!("comic deleted");
    Ok(no_content(&done.token))
}
