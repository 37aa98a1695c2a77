//! `/health/live` (the process answers) and `/health/ready` (Postgres and
//! NATS are reachable; 503 with `Retry-After` otherwise).

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
    let body = Json(json!({
        "status": if postgres && nats { "ok" } else { "unavailable" },
        "postgres": if postgres { "ok" } else { "unreachable" },
        "nats": if nats { "ok" } else { "unreachable" },
    }));
    if postgres && nats {
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
