//! The once per 10 minutes rule: which reader of which comic last counted
//! (by stream time), and which views of a batch of messages count.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use comics_domain::View;
use comics_nats::worker::ordered::Delivered;
use uuid::Uuid;

use super::batch::{seen_key, ViewBatch};

/// One reader's views of one comic count at most once in this long.
const WINDOW_MS: i64 = 10 * 60 * 1000;

/// Which reader of which comic last counted, and when (ms since the epoch).
#[derive(Default)]
pub struct Counted {
    at: HashMap<u128, i64>,
    newest: i64,
}

impl Counted {
    /// Whether a view by `key` at `at` counts; remembers it if it does.
    pub fn counts(&mut self, key: u128, at: i64) -> bool {
        self.newest = self.newest.max(at);
        match self.at.get(&key) {
            Some(last) if at - last < WINDOW_MS => false,
            _ => {
                self.at.insert(key, at);
                true
            }
        }
    }

    /// Remembers that `readers` (16-byte keys, one after another) counted
    /// at `at`, as recorded before a restart.
    pub fn restore(&mut self, at: i64, readers: &[u8]) {
        self.newest = self.newest.max(at);
        for key in readers.chunks_exact(16) {
            let key = u128::from_be_bytes(key.try_into().expect("16 bytes"));
            self.at.insert(key, at);
        }
    }

    /// Forgets what can no longer matter.
    pub fn prune(&mut self) {
        let horizon = self.newest - WINDOW_MS;
        self.at.retain(|_, at| *at > horizon);
    }
}

/// One commit's worth: views per comic, and the readers counted per message.
#[derive(Default)]
pub struct Pending {
    pub views: BTreeMap<Uuid, Vec<View>>,
    pub counted: Vec<(i64, DateTime<Utc>, Vec<u8>)>,
    pub last: u64,
}

impl Pending {
    /// The views of `batch` (delivered in turn) that count, by the rule and
    /// `counted`.
    pub fn judge(batch: &[Delivered<'_>], counted: &mut Counted) -> anyhow::Result<Self> {
        let mut pending = Pending::default();
        for Delivered { seq, message } in batch {
            let seq = *seq;
            let info = message.info().map_err(|e| anyhow::anyhow!("{e}"))?;
            pending.last = seq;
            let at = DateTime::<Utc>::from_timestamp(
                info.published.unix_timestamp(),
                info.published.nanosecond(),
            )
            .unwrap_or_else(Utc::now);
            match serde_json::from_slice(&message.payload) {
                Ok(views) => pending.add(counted, seq, at, views),
                Err(e) => {
                    tracing::warn!(seq, error = %e, "skipping a views message that is not a batch");
                }
            }
        }
        Ok(pending)
    }

    /// Adds the views of message `seq` (stored at `at`) that count.
    fn add(&mut self, counted: &mut Counted, seq: u64, at: DateTime<Utc>, views: ViewBatch) {
        let ms = at.timestamp_millis();
        let mut keys = Vec::new();
        for (comic_id, readers) in views.comics {
            let mut count = 0u64;
            for reader in readers {
                let key = seen_key(comic_id, &reader);
                if counted.counts(key, ms) {
                    keys.extend_from_slice(&key.to_be_bytes());
                    count += 1;
                }
            }
            if count > 0 {
                self.views
                    .entry(comic_id)
                    .or_default()
                    .push(View { seq, at, count });
            }
        }
        if !keys.is_empty() {
            self.counted.push((seq as i64, at, keys));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn a_reader_counts_once_per_ten_minutes_from_the_view_that_counted() {
        let mut c = Counted::default();
        assert!(c.counts(1, 0));
        assert!(!c.counts(1, MIN));
        // A view that did not count does not move the window.
        assert!(!c.counts(1, 9 * MIN));
        assert!(c.counts(1, 10 * MIN));
        assert!(!c.counts(1, 19 * MIN + 59_999));
        assert!(c.counts(1, 20 * MIN));
    }

    #[test]
    fn readers_and_comics_are_judged_apart_and_pruning_keeps_the_window() {
        let mut c = Counted::default();
        assert!(c.counts(1, 0));
        assert!(c.counts(2, 0));
        assert!(c.counts(3, 5 * MIN));
        c.prune();
        assert_eq!(c.at.len(), 3, "nothing is older than the window yet");
        assert!(c.counts(4, 11 * MIN));
        c.prune();
        assert_eq!(c.at.len(), 2, "the views at 0 can no longer matter");
        assert!(!c.counts(3, 14 * MIN));
        assert!(c.counts(1, 14 * MIN));
    }
}
