//! A user's bookmarks: `PUT` and `DELETE`, both idempotent. They are kept
//! by the Library aggregate (one per user, `comics_domain::library_id`), the
//! name its stored events carry; everything else says bookmarks.

use axum::extract::State;
use axum::response::Response;
use axum::routing::put;
use axum::Router;
use comics_common::auth::User;
use comics_common::consistency::ConsistencyToken;
use comics_common::http::{PathParams, RequestId};
use comics_common::Problem;
use comics_domain::{library_id, LibraryCommand};
use uuid::Uuid;

use crate::response::{metadata, no_content};
use crate::state::CommandState;

pub fn routes() -> Router<CommandState> {
    Router::new().route(
        "/api/v1/me/bookmarks/{comic_id}",
        put(bookmark).delete(unbookmark),
    )
}

async fn run(
    state: &CommandState,
    user: &User,
    request: &RequestId,
    command: LibraryCommand,
) -> Result<Response, Problem> {
    let id = library_id(&user.sub);
    let meta = metadata(user, request);
    let commits = &state.stores.bookmark_commits;
    let done = commits.execute(id.to_string(), command, meta).await?;
    // A no-op on a library that was never written (version 0) has nothing
    // for a read to wait for; a mark at 0 would never be applied (503).
    if done.version == 0 {
        return Ok(no_content(&ConsistencyToken::default()));
    }
    Ok(no_content(&done.token))
}

#[utoipa::path(put, path = "/api/v1/me/bookmarks/{comic_id}", tag = "bookmarks", operation_id = "bookmark",
    params(("comic_id" = Uuid, Path, description = "The comic")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Bookmarked (idempotent)"),
        (status = 404, description = "No such comic"),
    ))]
#[tracing::instrument(skip_all, fields(comic_id = %comic_id))]
async fn bookmark(
    State(state): State<CommandState>,
    user: User,
    request: RequestId,
    PathParams(comic_id): PathParams<Uuid>,
) -> Result<Response, Problem> {
    let command = LibraryCommand::Bookmark {
        user: user.sub.clone(),
        comic_id,
    };
    run(&state, &user, &request, command).await
}

#[utoipa::path(delete, path = "/api/v1/me/bookmarks/{comic_id}", tag = "bookmarks", operation_id = "unbookmark",
    params(("comic_id" = Uuid, Path, description = "The comic")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Not bookmarked (idempotent)"),
    ))]
#[tracing::instrument(skip_all, fields(comic_id = %comic_id))]
async fn unbookmark(
    State(state): State<CommandState>,
    user: User,
    request: RequestId,
    PathParams(comic_id): PathParams<Uuid>,
) -> Result<Response, Problem> {
    let command = LibraryCommand::Unbookmark {
        user: user.sub.clone(),
        comic_id,
    };
    run(&state, &user, &request, command).await
}
