//! The catalog rows that `GET /chapters/{id}/pages/{n}` reads, kept in
//! memory so that a hot page is served without a Postgres round trip.
//!
//! A row is kept with the change counter as it was before it was read and
//! the comic its chapter belongs to, and used only while the catalog has
//! announced no change to that comic since ([`Freshness`], as the read
//! cache's answers about one comic): a page put, replaced or deleted, its
//! chapter's deletion and its comic's deletion all name the comic, so the
//! page's next read goes to the catalog again (and a deleted one is 404).
//! Nothing is used while the change listener is not connected, and a read
//! with `X-Consistency-Token` always reads the catalog. Only rows of pages
//! that exist are kept: a missing page is looked up each time.

use std::sync::Arc;

use comics_common::projections::{ProjectionInfo, CATALOG};
use sqlx::PgPool;
use uuid::Uuid;

use crate::cache::{Freshness, Verdict};
use crate::images::Stored;

/// How many rows are kept (each a few hundred bytes).
const ROWS: usize = 16 * 1024;

/// One page's row, with what its freshness is judged by.
#[derive(Debug, sqlx::FromRow)]
pub struct PageRow {
    pub comic_id: Uuid,
    #[sqlx(flatten)]
    pub stored: Stored,
}

struct Kept {
    row: Arc<PageRow>,
    /// The change counter before the row was read.
    stamp: u64,
}

/// Page rows by (chapter, number), least recently used evicted first.
pub struct PageRows {
    freshness: Arc<Freshness>,
    rows: quick_cache::sync::Cache<(Uuid, i32), Arc<Kept>>,
}

impl PageRows {
    pub fn new(freshness: Arc<Freshness>) -> Arc<Self> {
        Arc::new(Self {
            freshness,
            rows: quick_cache::sync::Cache::new(ROWS),
        })
    }

    /// Page `number` of `chapter`, kept or read from `catalog` (and kept).
    pub async fn get(
        &self,
        catalog: &PgPool,
        chapter: Uuid,
        number: i32,
    ) -> Result<Option<Arc<PageRow>>, sqlx::Error> {
        if let Some(row) = self.fresh(chapter, number) {
            return Ok(Some(row));
        }
        let stamp = self.freshness.stamp();
        let row = read(catalog, chapter, number).await?.map(Arc::new);
        if let Some(row) = &row {
            let kept = Kept {
                row: row.clone(),
                stamp,
            };
            self.rows.insert((chapter, number), Arc::new(kept));
        }
        Ok(row)
    }

    /// The kept row, if the catalog announced no change to its comic since.
    fn fresh(&self, chapter: Uuid, number: i32) -> Option<Arc<PageRow>> {
        if !self.freshness.usable() {
            return None;
        }
        let kept = self.rows.get(&(chapter, number))?;
        const DEPS: [ProjectionInfo; 1] = [CATALOG];
        let verdict = self
            .freshness
            .judge(&DEPS, Some(kept.row.comic_id), kept.stamp);
        (verdict == Verdict::Fresh).then(|| kept.row.clone())
    }
}

/// Page `number` of `chapter` as the catalog shows it now (none once the
/// page, its chapter or its comic is deleted).
pub async fn read(
    catalog: &PgPool,
    chapter: Uuid,
    number: i32,
) -> Result<Option<PageRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT ch.comic_id, p.content_type, p.size, p.sha256, p.key FROM catalog.pages p \
         JOIN catalog.chapters ch ON ch.id = p.chapter_id \
         WHERE p.chapter_id = $1 AND p.number = $2",
    )
    .bind(chapter)
    .bind(number)
    .fetch_optional(catalog)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use comics_common::projections::Changes;

    fn about(comic: Uuid) -> Changes {
        Changes {
            comics: vec![comic],
            ..Changes::default()
        }
    }

    #[test]
    fn a_kept_row_is_used_until_the_catalog_changes_its_comic() {
        let freshness = Arc::new(Freshness::unfed());
        let rows = PageRows::new(freshness.clone());
        let (comic, other, chapter) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let keep = |stamp: u64| {
            let row = PageRow {
                comic_id: comic,
                stored: Stored {
                    content_type: "image/png".into(),
                    size: 1,
                    sha256: "a".repeat(64),
                    key: "k".into(),
                },
            };
            let kept = Kept {
                row: Arc::new(row),
                stamp,
            };
            rows.rows.insert((chapter, 1), Arc::new(kept));
        };
        keep(freshness.stamp());
        assert!(rows.fresh(chapter, 1).is_some());
        assert!(rows.fresh(chapter, 2).is_none(), "never kept");
        freshness.record("catalog", &about(other));
        freshness.record("ratings", &about(comic));
        assert!(
            rows.fresh(chapter, 1).is_some(),
            "not a catalog change of its comic"
        );
        freshness.record("catalog", &about(comic));
        assert!(rows.fresh(chapter, 1).is_none());
        keep(freshness.stamp());
        assert!(
            rows.fresh(chapter, 1).is_some(),
            "read again after the change"
        );
        freshness.record("", &Changes::everything());
        assert!(rows.fresh(chapter, 1).is_none());
    }
}
