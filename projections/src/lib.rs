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
pub mod thumbnails;

pub use runtime::{Projector, ProjectorRunner};

use std::sync::Arc;

use comics_storage::Storage;

/// Every projector, by the name `comics projections` knows it under; the
/// thumbnails projector stores what it makes in `storage`.
pub fn all(storage: &Storage) -> Vec<Arc<dyn Projector>> {
    vec![
        Arc::new(catalog::CatalogProjector),
        Arc::new(ratings::RatingsProjector),
        Arc::new(bookmarks::BookmarksProjector),
        Arc::new(popularity::PopularityProjector),
        Arc::new(plans::PlansProjector),
        Arc::new(thumbnails::ThumbnailsProjector {
            storage: storage.clone(),
        }),
    ]
}

pub fn by_name(name: &str, storage: &Storage) -> Option<Arc<dyn Projector>> {
    all(storage).into_iter().find(|p| p.info().name == name)
}
