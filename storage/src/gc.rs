//! Garbage collection of stored images: objects under `images/` that no
//! event (and no projection) names and that are older than a grace period
//! are removed. Uploads write their bytes before the event naming them is
//! appended, so a young unnamed object may be one whose event is on its
//! way; the grace period lets it arrive.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::ObjectStoreExt;

use crate::{Storage, StorageError, IMAGES, UPLOADS};

/// What a collection found and did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GcReport {
    /// Objects looked at.
    pub examined: u64,
    /// Objects kept because something names them.
    pub named: u64,
    /// Unnamed objects kept because they are younger than the grace period.
    pub young: u64,
    /// Unnamed objects removed.
    pub removed: u64,
    /// Spool files of a local store left by uploads cut short (a crash),
    /// removed.
    pub stale_uploads: u64,
}

impl Storage {
    /// Removes every image not in `named` (keys) last modified before
    /// `cutoff`.
    pub async fn gc(
        &self,
        named: &HashSet<String>,
        cutoff: DateTime<Utc>,
    ) -> Result<GcReport, StorageError> {
        let mut report = GcReport::default();
        let prefix = Path::from(IMAGES);
        let mut listing = self.store.list(Some(&prefix));
        while let Some(meta) = listing.try_next().await? {
            report.examined += 1;
            let key = meta.location.to_string();
            if named.contains(&key) {
                report.named += 1;
            } else if meta.last_modified >= cutoff {
                report.young += 1;
            } else {
                match self.store.delete(&meta.location).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
                tracing::info!(%key, "removed an image no event names");
                report.removed += 1;
            }
        }
        if let Some(root) = &self.local_root {
            report.stale_uploads = stale_uploads(&root.join(UPLOADS), cutoff)?;
        }
        Ok(report)
    }
}

/// Removes the files in `dir` last written before `cutoff`.
fn stale_uploads(dir: &std::path::Path, cutoff: DateTime<Utc>) -> Result<u64, StorageError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(0);
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let modified = entry.metadata().and_then(|m| m.modified());
        let stale = modified.is_ok_and(|m| DateTime::<Utc>::from(m) < cutoff);
        if stale && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}
