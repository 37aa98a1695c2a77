//! The parts of `GET /comics/{id}/stats` that a comic's next change rarely
//! touches, kept in memory, so that a stats answer made out of date by one
//! projection reads that projection again, not all four.
//!
//! Under live writes a hot comic's stats are out of date at almost every
//! batch of the popularity or ratings projector, and each recompute used to
//! read four stores. Now its existence, its views (per window) and its
//! bookmark count are kept, each with the change counter as it was before
//! it was read ([`Freshness`], as the read cache's answers), and used only
//! while what it came from is unchanged:
//! - the views, while the popularity projection has announced no change to
//!   the comic and within the same clock minute (the windows move with it);
//! - the bookmark count, while the bookmarks projection has announced no
//!   change to the comic;
//! - that the comic exists, while none of the four projections the stats
//!   read has announced a comic's deletion.
//!
//! The rating and its distribution are always read. Nothing is used while
//! the change listener is not connected, and a read with
//! `X-Consistency-Token` reads every store.

use std::sync::Arc;

use comics_common::projections::{ProjectionInfo, BOOKMARKS, CATALOG, POPULARITY, RATINGS};
use uuid::Uuid;

use crate::cache::{Freshness, Verdict};
use crate::popularity::store::Views;

/// How many comics' parts are kept (each well under a hundred bytes).
const COMICS: usize = 64 * 1024;

/// The projections whose deletion announcements end a kept existence.
const ALL_FOUR: [ProjectionInfo; 4] = [CATALOG, RATINGS, POPULARITY, BOOKMARKS];

/// A comic's kept parts, each with the change counter before its read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Kept {
    pub exists: Option<u64>,
    /// The views, the clock minute they were read for, and the counter.
    pub views: Option<(Views, i64, u64)>,
    pub bookmarks: Option<(i64, u64)>,
}

/// Kept parts by comic, least recently used evicted first.
pub struct StatsParts {
    freshness: Arc<Freshness>,
    kept: quick_cache::sync::Cache<Uuid, Kept>,
}

impl StatsParts {
    pub fn new(freshness: Arc<Freshness>) -> Arc<Self> {
        Arc::new(Self {
            freshness,
            kept: quick_cache::sync::Cache::new(COMICS),
        })
    }

    /// The change counter now: what parts read from here on are kept with.
    pub fn stamp(&self) -> u64 {
        self.freshness.stamp()
    }

    /// The parts of comic `id` still usable at clock minute `minute`.
    pub fn fresh(&self, id: Uuid, minute: i64) -> Kept {
        let Some(kept) = self.kept.get(&id).filter(|_| self.freshness.usable()) else {
            return Kept::default();
        };
        let unchanged = |projection: ProjectionInfo, stamp: u64| {
            self.freshness.judge(&[projection], Some(id), stamp) == Verdict::Fresh
        };
        Kept {
            exists: kept
                .exists
                .filter(|stamp| !self.freshness.deleted_since(&ALL_FOUR, *stamp)),
            views: kept
                .views
                .filter(|(_, at, stamp)| *at == minute && unchanged(POPULARITY, *stamp)),
            bookmarks: kept
                .bookmarks
                .filter(|(_, stamp)| unchanged(BOOKMARKS, *stamp)),
        }
    }

    pub fn keep(&self, id: Uuid, kept: Kept) {
        self.kept.insert(id, kept);
    }

    pub fn forget(&self, id: Uuid) {
        self.kept.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use comics_common::projections::Changes;

    fn about(id: Uuid) -> Changes {
        Changes {
            comics: vec![id],
            ..Changes::default()
        }
    }

    #[test]
    fn each_part_is_kept_until_its_own_projection_names_the_comic() {
        // Counters fed by the test (no listener to wait for).
        let listening = Arc::new(Freshness::unfed());
        let parts = StatsParts::new(listening.clone());
        let (x, y) = (Uuid::now_v7(), Uuid::now_v7());
        let stamp = parts.stamp();
        let kept = Kept {
            exists: Some(stamp),
            views: Some((Views::default(), 7, stamp)),
            bookmarks: Some((3, stamp)),
        };
        parts.keep(x, kept);
        parts.keep(y, kept);
        assert_eq!(parts.fresh(x, 7), kept);
        // Another minute: the windows moved.
        assert_eq!(parts.fresh(x, 8).views, None);
        // Ratings and the catalog naming x leave its parts alone.
        listening.record(RATINGS.name, &about(x));
        listening.record(CATALOG.name, &about(x));
        assert_eq!(parts.fresh(x, 7), kept);
        // Views of x: its views go, its bookmarks and y's stay.
        listening.record(POPULARITY.name, &about(x));
        assert_eq!(parts.fresh(x, 7).views, None);
        assert_eq!(parts.fresh(x, 7).bookmarks, kept.bookmarks);
        assert_eq!(parts.fresh(y, 7), kept);
        listening.record(BOOKMARKS.name, &about(y));
        assert_eq!(parts.fresh(y, 7).bookmarks, None);
        // A deletion anywhere ends every kept existence.
        let deleted = Changes {
            deleted: true,
            ..about(Uuid::now_v7())
        };
        listening.record(BOOKMARKS.name, &deleted);
        assert_eq!(parts.fresh(x, 7).exists, None);
        assert_eq!(parts.fresh(y, 7).exists, None);
    }
}
