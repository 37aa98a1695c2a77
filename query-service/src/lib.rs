//! The comics read side: public `GET` endpoints under `/api/v1` served from
//! the projected query stores (today the `catalog` projection: comics,
//! chapters and genres), honouring the `X-Consistency-Token` of API.md.
//!
//! The crate exposes [`router`] over a [`QueryState`]; the `comics` binary
//! composes it with the other services.
#![forbid(unsafe_code)]

mod chapters;
mod comics;
pub mod consistency;
mod genres;
mod listing;
mod state;

use axum::middleware::from_fn_with_state;
use axum::Router;
use comics_common::projections::CATALOG;

pub use consistency::{ConsistencyGate, ProjectionStore};
pub use state::QueryState;

/// Every read endpoint of this crate, nested under `/api/v1`.
///
/// Each route waits for the consistency token (if one was sent) before it
/// reads. Fallbacks for unknown paths are left to whoever composes routers.
pub fn router(state: QueryState) -> Router {
    let gate = ConsistencyGate::new(
        vec![ProjectionStore::new(CATALOG, state.catalog.clone())],
        state.consistency_timeout,
    );
    let api = Router::new()
        .merge(comics::routes())
        .merge(chapters::routes())
        .merge(genres::routes())
        .route_layer(from_fn_with_state(gate, consistency::require))
        .with_state(state);
    Router::new().nest("/api/v1", api)
}
