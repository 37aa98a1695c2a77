//! The comics write side: authenticated HTTP commands, parsed into valid
//! domain commands, executed through cqrs-es against the postgres-es event
//! store (the plain event store: no snapshots), answered with the
//! aggregate's new version and a consistency token.
#![forbid(unsafe_code)]

mod bus;
mod chapters;
mod comics;
mod error;
mod fields;
mod group;
mod library;
mod locks;
mod ratings;
mod response;
mod services;
pub mod views;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRef};
use axum::Router;
use comics_common::auth::Jwt;
use comics_common::http::MAX_JSON_BODY;
use sqlx::PgPool;

pub use bus::{Committed, Stores};

/// Everything a command handler needs.
#[derive(Clone)]
pub struct CommandState {
    pub pool: PgPool,
    pub stores: Arc<Stores>,
    pub jwt: Arc<Jwt>,
    /// Where accepted views go (absent: `POST .../views` answers 503).
    pub views: Option<Arc<views::ViewIntake>>,
}

impl CommandState {
    pub fn new(pool: PgPool, jwt: Arc<Jwt>) -> Self {
        Self {
            stores: Arc::new(Stores::new(pool.clone())),
            pool,
            jwt,
            views: None,
        }
    }

    /// Accepts views into the JetStream views stream.
    pub fn with_views(
        mut self,
        js: async_nats::jetstream::Context,
        names: comics_nats::Names,
    ) -> Self {
        self.views = Some(Arc::new(views::ViewIntake::new(js, names)));
        self
    }
}

impl FromRef<CommandState> for Arc<Jwt> {
    fn from_ref(state: &CommandState) -> Self {
        state.jwt.clone()
    }
}

/// The command endpoints of API.md, under `/api/v1`.
pub fn router(state: CommandState) -> Router {
    Router::new()
        .merge(comics::routes())
        .merge(chapters::routes())
        .merge(ratings::routes())
        .merge(library::routes())
        .merge(views::routes())
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
        .with_state(state)
}
