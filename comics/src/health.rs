//! `/health/live` (the process answers) and `/health/ready` (Postgres, NATS
//! and, where this process uses it, object storage are reachable; 503 with
//! `Retry-After` otherwise).

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use sqlx::PgPool;

#[derive(Clone)]
pub struct Dependencies {
    pub pools: Vec<PgPool>,
    pub nats: async_nats::Client,
    /// The image store, when this process stores or serves images.
    pub storage: Option<comics_storage::Storage>,
}

/// The body of `/health/ready`: each dependency `ok` or `unreachable`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Readiness {
    /// `ok` or `unavailable`.
    status: &'static str,
    postgres: &'static str,
    nats: &'static str,
    /// Only where this process stores or serves images.
    #[serde(skip_serializing_if = "Option::is_none")]
    storage: Option<&'static str>,
}

pub fn routes(deps: Dependencies) -> Router {
    Router::new()
        .route("/health/live", get(comics_common::http::live))
        .route("/health/ready", get(ready))
        .with_state(deps)
}

/// `GET /health/ready`.
#[utoipa::path(get, path = "/health/ready", tag = "operations",
    responses(
        (status = 200, description = "Postgres, NATS and (where used) object storage are reachable", body = Readiness),
        (status = 503, description = "A dependency is unreachable (same body, `Retry-After`)", body = Readiness,
            headers(("Retry-After" = u32))),
    ))]
pub(crate) async fn ready(State(deps): State<Dependencies>) -> Response {
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
    let body = Json(Readiness {
        status: if all { "ok" } else { "unavailable" },
        postgres: word(postgres),
        nats: word(nats),
        storage: deps.storage.as_ref().map(|_| word(storage)),
    });
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
