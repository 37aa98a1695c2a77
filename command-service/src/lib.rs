//! The comics write side: authenticated HTTP commands, parsed into valid
//! domain commands, executed through cqrs-es against the postgres-es event
//! store (the plain event store: no snapshots), answered with the
//! aggregate's new version and a consistency token.
//!
//! A command goes handler → `state.stores.<aggregate>.execute(id, command,
//! &meta, if_match)` ([`handle`]) → decide → append ([`store`]); ratings and
//! bookmarks go through their group committer ([`group_commit`]), which
//! decides many commands together. [`state`] wires them; [`facts`] answers
//! what aggregates ask about each other.
#![forbid(unsafe_code)]

mod bookmarks;
mod chapters;
mod comics;
mod error;
mod facts;
mod fields;
mod group_commit;
mod handle;
mod images;
mod locks;
mod openapi;
mod page_puts;
mod pages;
mod plans;
pub mod popularity;
mod ratings;
mod response;
mod state;
mod store;
mod upload_schemas;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use comics_common::http::MAX_JSON_BODY;

pub use handle::{Committed, Executed};
pub use openapi::document as openapi;
pub use state::{CommandState, Stores};

/// The command endpoints of API.md, under `/api/v1`.
pub fn router(state: CommandState) -> Router {
    Router::new()
        .merge(comics::routes())
        .merge(chapters::routes())
        .merge(pages::routes())
        .merge(ratings::routes())
        .merge(bookmarks::routes())
        .merge(plans::routes())
        .merge(popularity::routes())
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
        .with_state(state)
}
