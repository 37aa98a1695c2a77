//! Accepting a view: check the comic, publish, answer 202.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, message::PublishMessage};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use comics_common::auth::MaybeUser;
use comics_common::http::PathParams;
use comics_common::problem::FieldProblem;
use comics_common::Problem;
use comics_nats::Names;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::bus::load;
use crate::CommandState;

/// How long a comic found live is trusted without asking the event store.
const LIVE_FOR: Duration = Duration::from_secs(30);
const MAX_BODY: usize = 4096;

pub struct ViewIntake {
    js: jetstream::Context,
    names: Names,
    live: Mutex<HashMap<Uuid, Instant>>,
}

impl ViewIntake {
    pub fn new(js: jetstream::Context, names: Names) -> Self {
        Self {
            js,
            names,
            live: Mutex::new(HashMap::new()),
        }
    }

    fn recently_live(&self, comic_id: Uuid) -> bool {
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.get(&comic_id)
            .is_some_and(|seen| seen.elapsed() < LIVE_FOR)
    }

    /// Forgets that a comic was live (it was deleted through this process).
    pub fn forget(&self, comic_id: Uuid) {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.remove(&comic_id);
    }

    fn remember(&self, comic_id: Uuid) {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        if live.len() > 100_000 {
            live.retain(|_, seen| seen.elapsed() < LIVE_FOR);
        }
        live.insert(comic_id, Instant::now());
    }
}

pub fn routes() -> Router<CommandState> {
    Router::new().route("/api/v1/comics/{id}/views", post(record_view))
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct ViewBody {
    chapter_id: Option<Uuid>,
}

/// The optional body: nothing, or `{"chapter_id": ...}` as JSON.
fn parse_body(headers: &HeaderMap, body: &Bytes) -> Result<ViewBody, Problem> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(ViewBody::default());
    }
    if body.len() > MAX_BODY {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "Payload too large",
        ));
    }
    if !comics_common::http::is_json_content_type(headers) {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
        )
        .with_detail("expected Content-Type: application/json"));
    }
    // serde also reads a struct from an array (`[null]`, `["<uuid>"]`): the
    // body must be an object, as everywhere else.
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') && serde_json::from_slice::<serde_json::Value>(body).is_ok() {
        return Err(Problem::validation(vec![FieldProblem {
            field: "body".into(),
            message: "must be a JSON object".into(),
        }]));
    }
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            Problem::bad_request(e.to_string())
        }
        _ => Problem::validation(vec![FieldProblem {
            field: "body".into(),
            message: e.to_string(),
        }]),
    })
}

/// Who is viewing: the token's subject, else the client address. The key
/// goes into a NATS header, so a subject that is not short printable ASCII
/// is keyed by its UUIDv5 instead (never by dropping characters, which gave
/// "josé", "jo s" and "jos" one key).
fn viewer(user: &MaybeUser, addr: SocketAddr) -> String {
    match &user.0 {
        Some(u) if u.sub.len() <= 200 && u.sub.bytes().all(|b| b.is_ascii_graphic()) => {
            format!("u:{}", u.sub)
        }
        Some(u) => format!(
            "u5:{}",
            Uuid::new_v5(&Uuid::NAMESPACE_OID, u.sub.as_bytes())
        ),
        None => format!("a:{}", addr.ip()),
    }
}

#[tracing::instrument(skip_all, fields(comic_id = %comic_id))]
async fn record_view(
    State(state): State<CommandState>,
    user: MaybeUser,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    PathParams(comic_id): PathParams<Uuid>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let body = parse_body(&headers, &body)?;
    let Some(intake) = state.views.as_ref() else {
        return Err(Problem::unavailable(
            "view intake is not running in this process",
        ));
    };
    if !intake.recently_live(comic_id) {
        let (comic, _) = load(&state.stores.comics, &comic_id.to_string())
            .await
            .map_err(|e| Problem::unavailable(format!("cannot check the comic: {e}")))?;
        if comic.details.is_none() || comic.deleted {
            return Err(Problem::not_found("no such comic"));
        }
        intake.remember(comic_id);
    }
    let message = PublishMessage::build()
        .payload(serde_json::to_vec(&body).unwrap_or_default().into())
        .message_id(format!("{comic_id}:{}", viewer(&user, addr)));
    let subject = intake.names.views_subject(&comic_id.to_string());
    let ack = async {
        intake
            .js
            .send_publish(subject, message)
            .await?
            .await
            .map_err(anyhow::Error::from)
    };
    match ack.await {
        // A duplicate within 10 minutes is accepted too, and not counted.
        Ok(_) => Ok(StatusCode::ACCEPTED.into_response()),
        Err(e) => {
            tracing::warn!(error = %e, "cannot store a view");
            Err(Problem::unavailable("views cannot be stored right now"))
        }
    }
}
