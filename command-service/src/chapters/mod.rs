//! Chapter commands. A chapter's number is registered on its comic (which
//! keeps `(comic, language, number)` unique), so each command runs under the
//! comic's lock and touches both aggregates in a crash-safe order: a new
//! number is claimed before the chapter takes it, an old one released after
//! the chapter gave it up. A crash in between leaves a surplus claim, which
//! the Comic aggregate recognises and repairs when the number is next claimed.

mod dto;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{patch, post};
use axum::Router;
use comics_common::auth::Admin;
use comics_common::consistency::ConsistencyToken;
use comics_common::http::{JsonBody, PathParams, RequestId};
use comics_common::Problem;
use comics_domain::chapter::ChapterChanges;
use comics_domain::values::{ChapterNumber, Language};
use comics_domain::{aggregate_types, Chapter, ChapterCommand, ChapterError, ComicCommand};
use std::collections::HashMap;
use uuid::Uuid;

use crate::bus::{execute, load, Refused};
use crate::error::database;
use crate::locks::lock_comic;
use crate::response::{created, if_match, metadata, no_content, ok};
use crate::CommandState;

pub fn routes() -> Router<CommandState> {
    Router::new()
        .route("/api/v1/comics/{id}/chapters", post(create))
        .route("/api/v1/chapters/{id}", patch(change).delete(delete))
}

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
    let _lock = lock_comic(&state.pool, comic_id).await.map_err(database)?;
    let mut token = ConsistencyToken::default();
    claim(
        &state,
        comic_id,
        chapter_id,
        &chapter.language,
        &chapter.number,
        &meta,
        &mut token,
    )
    .await?;
    let s = &state.stores;
    let command = ChapterCommand::Create {
        chapter_id,
        chapter,
    };
    let done = execute(
        &s.chapters,
        &s.chapter_services,
        &chapter_id.to_string(),
        command,
        &meta,
        None,
    )
    .await?;
    token.push(
        aggregate_types::CHAPTER,
        &chapter_id.to_string(),
        done.version,
    );
    tracing::info!(%chapter_id, "chapter created");
    Ok(created(
        format!("/api/v1/chapters/{chapter_id}"),
        chapter_id,
        done.version,
        &token,
    ))
}

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
    let (comic_id, _) = locate(&state, chapter_id).await?;
    let _lock = lock_comic(&state.pool, comic_id).await.map_err(database)?;
    let (current, version) = locate(&state, chapter_id).await?.1;
    if let Some(expected) = expected.filter(|e| *e != version) {
        let _ = expected;
        return Err(Refused::<ChapterError>::StaleVersion { current: version }.into());
    }
    let mut token = ConsistencyToken::default();
    let renumber = changes.number.clone().filter(|n| *n != current.1);
    if let Some(number) = &renumber {
        claim(
            &state, comic_id, chapter_id, &current.0, number, &meta, &mut token,
        )
        .await?;
    }
    let s = &state.stores;
    let command = ChapterCommand::Update(ChapterChanges { ..changes });
    let done = execute(
        &s.chapters,
        &s.chapter_services,
        &chapter_id.to_string(),
        command,
        &meta,
        Some(version),
    )
    .await?;
    token.push(
        aggregate_types::CHAPTER,
        &chapter_id.to_string(),
        done.version,
    );
    if renumber.is_some() {
        release(
            &state, comic_id, chapter_id, current.0, current.1, &meta, &mut token,
        )
        .await?;
    }
    Ok(ok(chapter_id, done.version, &token))
}

#[tracing::instrument(skip_all, fields(chapter_id = %chapter_id))]
async fn delete(
    State(state): State<CommandState>,
    Admin(user): Admin,
    request: RequestId,
    PathParams(chapter_id): PathParams<Uuid>,
) -> Result<Response, Problem> {
    let meta = metadata(&user, &request);
    let (comic_id, _) = locate(&state, chapter_id).await?;
    let _lock = lock_comic(&state.pool, comic_id).await.map_err(database)?;
    let ((language, number), _) = locate(&state, chapter_id).await?.1;
    let s = &state.stores;
    let done = execute(
        &s.chapters,
        &s.chapter_services,
        &chapter_id.to_string(),
        ChapterCommand::Delete,
        &meta,
        None,
    )
    .await?;
    let mut token = ConsistencyToken::default();
    token.push(
        aggregate_types::CHAPTER,
        &chapter_id.to_string(),
        done.version,
    );
    release(
        &state, comic_id, chapter_id, language, number, &meta, &mut token,
    )
    .await?;
    Ok(no_content(&token))
}

type Held = ((Language, ChapterNumber), i64);

/// The live chapter's comic, its language and number, and its version.
async fn locate(state: &CommandState, chapter_id: Uuid) -> Result<(Uuid, Held), Problem> {
    let (chapter, version): (Chapter, i64) = load(&state.stores.chapters, &chapter_id.to_string())
        .await
        .map_err(|e| Problem::from(Refused::Aggregate(e)))?;
    let not_found = || Problem::not_found("no such chapter");
    let comic_id = chapter.comic_id().ok_or_else(not_found)?;
    let (language, number) = chapter.holds().ok_or_else(not_found)?;
    Ok((comic_id, ((language.clone(), number.clone()), version)))
}

async fn claim(
    state: &CommandState,
    comic_id: Uuid,
    chapter_id: Uuid,
    language: &Language,
    number: &ChapterNumber,
    meta: &HashMap<String, String>,
    token: &mut ConsistencyToken,
) -> Result<(), Problem> {
    let s = &state.stores;
    let command = ComicCommand::ClaimChapterNumber {
        chapter_id,
        language: language.clone(),
        number: number.clone(),
    };
    let done = execute(
        &s.comics,
        &s.comic_services,
        &comic_id.to_string(),
        command,
        meta,
        None,
    )
    .await?;
    token.push(aggregate_types::COMIC, &comic_id.to_string(), done.version);
    Ok(())
}

async fn release(
    state: &CommandState,
    comic_id: Uuid,
    chapter_id: Uuid,
    language: Language,
    number: ChapterNumber,
    meta: &HashMap<String, String>,
    token: &mut ConsistencyToken,
) -> Result<(), Problem> {
    let s = &state.stores;
    let command = ComicCommand::ReleaseChapterNumber {
        chapter_id,
        language,
        number,
    };
    let done = execute(
        &s.comics,
        &s.comic_services,
        &comic_id.to_string(),
        command,
        meta,
        None,
    )
    .await?;
    token.push(aggregate_types::COMIC, &comic_id.to_string(), done.version);
    Ok(())
}
