//! `POST /comics/{id}/views`: check the body and the comic, hand the view
//! to the intake, answer 202 with the view's place in the views stream.

use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use comics_common::auth::MaybeUser;
use comics_common::client::ClientAddr;
use comics_common::consistency::ConsistencyToken;
use comics_common::http::{self, PathParams};
use comics_common::Problem;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::response;
use crate::state::CommandState;

const MAX_BODY: usize = 4096;

pub fn routes() -> Router<CommandState> {
    Router::new().route("/api/v1/comics/{id}/views", post(record_view))
}

#[derive(Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ViewBody {
    chapter_id: Option<Uuid>,
}

/// The optional body: nothing, or `{"chapter_id": ...}` as JSON, checked
/// as every JSON body is.
fn parse_body(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<ViewBody, Problem> {
    let body = body.map_err(http::body_problem)?;
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(ViewBody::default());
    }
    if body.len() > MAX_BODY {
        return Err(http::too_large(MAX_BODY));
    }
    if !http::is_json_content_type(headers) {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
        )
        .with_detail("expected Content-Type: application/json"));
    }
    http::json_object(&body)
}

/// Who is viewing: the token's subject, else the client address. A subject
/// that is not short printable ASCII travels as its UUIDv5 (never by
/// dropping characters, which gave "josé", "jo s" and "jos" one key).
fn viewer(user: &MaybeUser, ClientAddr(addr): ClientAddr) -> String {
    match &user.0 {
        Some(u) if u.sub.len() <= 200 && u.sub.bytes().all(|b| b.is_ascii_graphic()) => {
            format!("u:{}", u.sub)
        }
        Some(u) => format!(
            "u5:{}",
            Uuid::new_v5(&Uuid::NAMESPACE_OID, u.sub.as_bytes())
        ),
        None => format!("a:{addr}"),
    }
}

#[utoipa::path(post, path = "/api/v1/comics/{id}/views", tag = "views", operation_id = "record_view",
    params(("id" = Uuid, Path, description = "The comic")),
    request_body(content = Option<ViewBody>, description = "Optional: the chapter being read"),
    security((), ("bearer" = [])),
    responses(
        (status = 202, description = "Accepted; one reader's view of a comic counts at most once per 10 minutes"),
        (status = 404, description = "No such comic"),
    ))]
#[tracing::instrument(skip_all, fields(comic_id = %comic_id))]
async fn record_view(
    State(state): State<CommandState>,
    user: MaybeUser,
    addr: ClientAddr,
    PathParams(comic_id): PathParams<Uuid>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    // Checked, as every body is; a view counts for its comic whichever
    // chapter it names.
    parse_body(&headers, body)?;
    let Some(intake) = state.views.as_ref() else {
        return Err(Problem::unavailable(
            "view intake is not running in this process",
        ));
    };
    if !intake.recently_live(comic_id) {
        let (comic, _) = state
            .stores
            .comics
            .load(comic_id)
            .await
            .map_err(|e| Problem::unavailable(format!("cannot check the comic: {e}")))?;
        if comic.details.is_none() || comic.deleted {
            return Err(Problem::not_found("no such comic"));
        }
        intake.remember(comic_id);
    }
    match intake.store(comic_id, viewer(&user, addr)).await {
        // Whether it counts (once per reader and comic per 10 minutes) is
        // the recorder's to decide; either way it was accepted. The token
        // names the view's place in the views stream: a read waits until the
        // recorder has passed it and the projections show what it recorded.
        Some(sequence) => {
            let mut token = ConsistencyToken::default();
            token.push_views(comic_id, sequence);
            Ok(response::accepted(&token))
        }
        None => Err(Problem::unavailable("views cannot be stored right now")),
    }
}
