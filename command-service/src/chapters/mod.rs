//! Chapter commands. A chapter's number is registered on its comic (which
//! keeps `(comic, language, number)` unique), so each command runs under the
//! comic's lock and touches both aggregates in a crash-safe order: a new
//! number is claimed before the chapter takes it, an old one released after
//! the chapter gave it up. A crash in between leaves a surplus claim, which
//! the Comic aggregate recognises and repairs when the number is next claimed.

pub(crate) mod dto;

use std::collections::HashMap;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{patch, post};
use axum::Router;
use comics_common::auth::Admin;
use comics_common::consistency::ConsistencyToken;
use comics_common::http::{JsonBody, PathParams, RequestId};
use comics_common::Problem;
use comics_domain::values::{ChapterNumber, Language};
use comics_domain::{ChapterCommand, ChapterError, ComicCommand};
use uuid::Uuid;

use crate::error::database;
use crate::handle::Refused;
use crate::response::{created, if_match, metadata, no_content, ok, Versioned};
use crate::state::CommandState;

pub fn routes() -> Router<CommandState> {
    Router::new()
        .route("/api/v1/comics/{id}/chapters", post(create))
        .route("/api/v1/chapters/{id}", patch(change).delete(delete))
}

#[utoipa::path(post, path = "/api/v1/comics/{id}/chapters", tag = "chapters", operation_id = "create_chapter",
    params(("id" = Uuid, Path, description = "The comic")),
    request_body = dto::CreateChapter,
    security(("bearer" = ["admin"])),
    responses(
        (status = 201, description = "Created", body = Versioned, headers(("Location" = String))),
        (status = 404, description = "No such comic"),
        (status = 409, description = "The comic already has a chapter with this number in this language"),
    ))]
#[tracing::instrument(skip_all, fields(comic_id = %comic_id))]
async fn create(
    State(state): State<CommandState>,
    Admin(user): Admin,
    request: RequestId,
    PathParams(comic_id): PathParams<Uuid>,
    JsonBody(body): JsonBody<dto::CreateChapter>,
) -> Result<Response, Problem> {
    let chapter = body.parse(comic_id)?;
    let chapter_id = Uuid::now_v7();
    let meta = metadata(&user, &request);
    let _lock = state.comic_locks.lock(comic_id).await.map_err(database)?;
    let mut token = ConsistencyToken::default();
    let claim = ComicCommand::ClaimChapterNumber {
        chapter_id,
        language: chapter.language.clone(),
        number: chapter.number.clone(),
    };
    on_comic(&state, comic_id, claim, &meta, &mut token).await?;
    let command = ChapterCommand::Create {
        chapter_id,
        chapter,
    };
    let chapters = &state.stores.chapters;
    let done = chapters.execute(chapter_id, command, &meta, None).await?;
    done.mark(&mut token);
    tracing::info!(%chapter_id, "chapter created");
    let location = format!("/api/v1/chapters/{chapter_id}");
    Ok(created(location, chapter_id, done.version, &token))
}

#[utoipa::path(patch, path = "/api/v1/chapters/{id}", tag = "chapters", operation_id = "change_chapter",
    params(("id" = Uuid, Path, description = "The chapter"), ("If-Match" = Option<String>, Header, description = "The version this change was made against, quoted (`\"3\"`); `*` for any. Stale → 412")),
    request_body = dto::ChangeChapter,
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "Changed", body = Versioned, headers(("ETag" = String, description = "The new version, quoted"))),
        (status = 404, description = "No such chapter"),
        (status = 409, description = "The new number is taken"),
        (status = 412, description = "`If-Match` names another version"),
    ))]
#[tracing::instrument(skip_all, fields(chapter_id = %chapter_id))]
async fn change(
    State(state): State<CommandState>,
    Admin(user): Admin,
    request: RequestId,
    PathParams(chapter_id): PathParams<Uuid>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<dto::ChangeChapter>,
) -> Result<Response, Problem> {
    let expected = if_match(&headers)?;
    let changes = body.parse()?;
    let meta = metadata(&user, &request);
    let comic_id = locate(&state, chapter_id).await?.comic_id;
    let _lock = state.comic_locks.lock(comic_id).await.map_err(database)?;
    let current = locate(&state, chapter_id).await?;
    if expected.is_some_and(|e| e != current.version) {
        let current = current.version;
        return Err(Refused::<ChapterError>::StaleVersion { current }.into());
    }
    let mut token = ConsistencyToken::default();
    let renumber = changes.number.clone().filter(|n| *n != current.number);
    if let Some(number) = renumber.clone() {
        let claim = current.claim(chapter_id, number);
        on_comic(&state, comic_id, claim, &meta, &mut token).await?;
    }
    let command = ChapterCommand::Update(changes);
    let chapters = &state.stores.chapters;
    let expected = Some(current.version);
    let done = chapters
        .execute(chapter_id, command, &meta, expected)
        .await?;
    done.mark(&mut token);
    if renumber.is_some() {
        let release = current.release(chapter_id);
        on_comic(&state, comic_id, release, &meta, &mut token).await?;
    }
    Ok(ok(chapter_id, done.version, &token))
}

#[utoipa::path(delete, path = "/api/v1/chapters/{id}", tag = "chapters", operation_id = "delete_chapter",
    params(("id" = Uuid, Path, description = "The chapter")),
    security(("bearer" = ["admin"])),
    responses(
        (status = 204, description = "Deleted, with its pages"),
        (status = 404, description = "No such chapter"),
    ))]
#[tracing::instrument(skip_all, fields(chapter_id = %chapter_id))]
async fn delete(
    State(state): State<CommandState>,
    Admin(user): Admin,
    request: RequestId,
    PathParams(chapter_id): PathParams<Uuid>,
) -> Result<Response, Problem> {
    let meta = metadata(&user, &request);
    let comic_id = locate(&state, chapter_id).await?.comic_id;
    let _lock = state.comic_locks.lock(comic_id).await.map_err(database)?;
    let current = locate(&state, chapter_id).await?;
    let command = ChapterCommand::Delete;
    let chapters = &state.stores.chapters;
    let done = chapters.execute(chapter_id, command, &meta, None).await?;
    let mut token = ConsistencyToken::default();
    done.mark(&mut token);
    let release = current.release(chapter_id);
    on_comic(&state, comic_id, release, &meta, &mut token).await?;
    Ok(no_content(&token))
}

/// A live chapter: its comic, the number it holds, and its version.
struct Located {
    comic_id: Uuid,
    language: Language,
    number: ChapterNumber,
    version: i64,
}

impl Located {
    /// Claims `number` in the chapter's language on its comic.
    fn claim(&self, chapter_id: Uuid, number: ChapterNumber) -> ComicCommand {
        ComicCommand::ClaimChapterNumber {
            chapter_id,
            language: self.language.clone(),
            number,
        }
    }

    /// Releases the number the chapter holds on its comic.
    fn release(&self, chapter_id: Uuid) -> ComicCommand {
        ComicCommand::ReleaseChapterNumber {
            chapter_id,
            language: self.language.clone(),
            number: self.number.clone(),
        }
    }
}

async fn locate(state: &CommandState, chapter_id: Uuid) -> Result<Located, Problem> {
    let (chapter, version) = state
        .stores
        .chapters
        .load(chapter_id)
        .await
        .map_err(|e| Problem::from(Refused::Aggregate(e)))?;
    let not_found = || Problem::not_found("no such chapter");
    let comic_id = chapter.comic_id().ok_or_else(not_found)?;
    let (language, number) = chapter.holds().ok_or_else(not_found)?;
    Ok(Located {
        comic_id,
        language: language.clone(),
        number: number.clone(),
        version,
    })
}

/// Claims or releases a chapter number on the chapter's comic (`command`),
/// adding the comic's new version to `token`.
async fn on_comic(
    state: &CommandState,
    comic_id: Uuid,
    command: ComicCommand,
    meta: &HashMap<String, String>,
    token: &mut ConsistencyToken,
) -> Result<(), Problem> {
    let comics = &state.stores.comics;
    let done = comics.execute(comic_id, command, meta, None).await?;
    done.mark(token);
    Ok(())
}
