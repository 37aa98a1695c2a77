//! Accepting a view: check the comic, hand it to the batcher, answer 202
//! once the batch holding it is stored in JetStream.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, message::PublishMessage};
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use comics_common::auth::MaybeUser;
use comics_common::consistency::ConsistencyToken;
use comics_common::http::{self, PathParams};
use comics_common::Problem;
use comics_nats::Names;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, Semaphore};
use uuid::Uuid;

use super::batch::{ViewBatch, MAX_VIEWS};
use crate::bus::load;
use crate::{response, CommandState};

/// How long a comic found live is trusted without asking the event store.
const LIVE_FOR: Duration = Duration::from_secs(30);
/// Batches published and not yet acknowledged, at most.
const IN_FLIGHT: usize = 1;
/// Views waiting for the batcher beyond this make requests wait for room.
const QUEUE: usize = 20_000;
const MAX_BODY: usize = 4096;
/// How long a view waits to be stored before it is answered 503.
const STORE_WAIT: Duration = Duration::from_secs(5);

pub struct ViewIntake {
    live: Mutex<HashMap<Uuid, Instant>>,
    batcher: mpsc::Sender<Accepted>,
}

/// A view waiting for its batch to be stored: at which views-stream
/// sequence, or `None` if it could not be.
struct Accepted {
    comic_id: Uuid,
    reader: String,
    stored: oneshot::Sender<Option<u64>>,
}

impl ViewIntake {
    /// Starts the batcher publishing to `names`' views stream.
    pub fn new(js: jetstream::Context, names: Names) -> Self {
        let (batcher, views) = mpsc::channel(QUEUE);
        tokio::spawn(publish_batches(js, names, views));
        Self {
            live: Mutex::new(HashMap::new()),
            batcher,
        }
    }

    /// Resolves once the view is durably in the stream (with the stream
    /// sequence of its batch), or could not be stored (`None`).
    /// Gives up after [`STORE_WAIT`] (NATS down: each batch waits out its
    /// acknowledgement timeout, and views queue behind it); a view stored
    /// after all is not counted twice when the client retries (once per
    /// reader and comic per 10 minutes).
    async fn store(&self, comic_id: Uuid, reader: String) -> Option<u64> {
        let (stored, answer) = oneshot::channel();
        let view = Accepted {
            comic_id,
            reader,
            stored,
        };
        let stored = async {
            self.batcher.send(view).await.ok()?;
            answer.await.unwrap_or(None)
        };
        tokio::time::timeout(STORE_WAIT, stored)
            .await
            .ok()
            .flatten()
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
        let (comic, _) = load(&state.stores.comics, &comic_id.to_string())
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

/// Publishes the views waiting as one message as soon as fewer than
/// [`IN_FLIGHT`] batches await their acknowledgement; while they do, views
/// gather (up to [`MAX_VIEWS`] a batch). Each batch's views are answered
/// when its acknowledgement arrives. Light load: a view goes alone at once;
/// heavy load: few, large messages.
async fn publish_batches(
    js: jetstream::Context,
    names: Names,
    mut views: mpsc::Receiver<Accepted>,
) {
    let subject = names.views_batch_subject();
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    while let Some(first) = views.recv().await {
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let mut waiting = vec![first];
        while waiting.len() < MAX_VIEWS {
            match views.try_recv() {
                Ok(view) => waiting.push(view),
                Err(_) => break,
            }
        }
        let mut batch = ViewBatch::default();
        let mut answers = Vec::with_capacity(waiting.len());
        for view in waiting {
            batch
                .comics
                .entry(view.comic_id)
                .or_default()
                .push(view.reader);
            answers.push(view.stored);
        }
        let published = match serde_json::to_vec(&batch) {
            Ok(payload) => js
                .send_publish(
                    subject.clone(),
                    PublishMessage::build().payload(payload.into()),
                )
                .await
                .map_err(anyhow::Error::from),
            Err(e) => Err(e.into()),
        };
        match published {
            Ok(ack) => {
                tokio::spawn(async move {
                    let _permit = permit;
                    let stored = match ack.await {
                        Ok(ack) => Some(ack.sequence),
                        Err(e) => {
                            tracing::warn!(error = %e, views = answers.len(), "a batch of views was not stored");
                            None
                        }
                    };
                    for answer in answers {
                        let _ = answer.send(stored);
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, views = answers.len(), "cannot publish a batch of views");
                for answer in answers {
                    let _ = answer.send(None);
                }
            }
        }
    }
}
