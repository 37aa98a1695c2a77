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

use comics_common::projections::{self as registry, ProjectionInfo};
use comics_storage::Storage;

/// Every projector, in the registry's order (`comics_common::projections::ALL`,
/// the one list of projections; the query service reads it too); the
/// thumbnails projector stores what it makes in `storage`.
pub fn all(storage: &Storage) -> Vec<Arc<dyn Projector>> {
    registry::ALL
        .iter()
        .map(|&info| projector(info, storage))
        .collect()
}

pub fn by_name(name: &str, storage: &Storage) -> Option<Arc<dyn Projector>> {
    registry::by_name(name).map(|info| projector(info, storage))
}

/// The projector that keeps `info`'s read model.
fn projector(info: ProjectionInfo, storage: &Storage) -> Arc<dyn Projector> {
    match info {
        registry::CATALOG => Arc::new(catalog::CatalogProjector),
        registry::RATINGS => Arc::new(ratings::RatingsProjector),
        registry::BOOKMARKS => Arc::new(bookmarks::BookmarksProjector),
        registry::POPULARITY => Arc::new(popularity::PopularityProjector),
        registry::PLANS => Arc::new(plans::PlansProjector),
        registry::THUMBNAILS => Arc::new(thumbnails::ThumbnailsProjector::new(storage.clone())),
        other => unreachable!("projection {} has no projector", other.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registered_projection_has_its_own_projector() {
        let dir = std::env::temp_dir().join(format!("projections-{}", std::process::id()));
        let url = format!("file://{}", dir.display());
        let storage = Storage::from_url(Some(&url), &[]).expect("a local storage");
        let projectors = all(&storage);
        assert_eq!(projectors.len(), registry::ALL.len());
        for (projector, info) in projectors.iter().zip(registry::ALL) {
            assert_eq!(projector.info(), *info);
        }
    }
}
