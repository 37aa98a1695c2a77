//! Read models and the machinery that keeps them: a projector runtime on
//! durable JetStream pull consumers (rows and checkpoint in one transaction,
//! idempotent per aggregate sequence), the projectors, and rebuilds from the
//! Postgres event log that swap in atomically.
#![forbid(unsafe_code)]

pub mod bookmarks;
mod cards;
pub mod catalog;
pub mod changes;
pub mod plans;
pub mod popularity;
pub mod ratings;
pub mod rebuild;
pub mod runtime;
pub mod status;

pub use runtime::{Projector, ProjectorRunner};

use std::sync::Arc;

/// Every projector, by the name `comics projections` knows it under.
pub fn all() -> Vec<Arc<dyn Projector>> {
    vec![
        Arc::new(catalog::CatalogProjector),
        Arc::new(ratings::RatingsProjector),
        Arc::new(bookmarks::BookmarksProjector),
        Arc::new(popularity::PopularityProjector),
        Arc::new(plans::PlansProjector),
    ]
}

pub fn by_name(name: &str) -> Option<Arc<dyn Projector>> {
    all().into_iter().find(|p| p.info().name == name)
}
