//! `/health/live` (the process answers) and `/health/ready` (Postgres, NATS
//! and, where this process uses it, object storage are reachable; 503 with
//! `Retry-After` otherwise).

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use sqlx::PgPool;

#[derive(Clone)]
pub struct Dependencies {
    pub pools: Vec<PgPool>,
    pub nats: async_nats::Client,
    /// The image store, when this process stores or serves images.
    pub storage: Option<comics_storage::Storage>,
}

pub fn routes(deps: Dependencies) -> Router {
    Router::new()
        .route("/health/live", get(comics_common::http::live))
        .route("/health/ready", get(ready))
        .with_state(deps)
}

async fn ready(State(deps): State<Dependencies>) -> Response {
    let mut postgres = true;
    for pool in &deps.pools {
        let ping = tokio::time::timeout(
            Duration::from_secs(2),
            sqlx::query("SELECT 1").execute(pool),
        )
        .await;
        postgres &= matches!(ping, Ok(Ok(_)));
    }
    let nats = deps.nats.connection_state() == async_nats::connection::State::Connected;
    let storage = match &deps.storage {
        Some(s) => matches!(
            tokio::time::timeout(Duration::from_secs(2), s.check()).await,
            Ok(Ok(()))
        ),
        None => true,
    };
    let word = |ok: bool| if ok { "ok" } else { "unreachable" };
    let all = postgres && nats && storage;
    let mut body = json!({
        "status": if all { "ok" } else { "unavailable" },
        "postgres": word(postgres),
        "nats": word(nats),
    });
    if deps.storage.is_some() {
        body["storage"] = json!(word(storage));
    }
    let body = Json(body);
    if all {
        body.into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            body,
        )
            .into_response()
    }
}
