//! The message the intake publishes: the views one process accepted within a
//! few milliseconds, by comic.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The most views in one message (far below NATS's 1 MiB payload limit,
/// with readers' keys of at most ~210 bytes).
pub const MAX_VIEWS: usize = 2000;

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewBatch {
    /// Each comic's viewers' keys (`u:<sub>`, `u5:<uuid>` or `a:<address>`).
    pub comics: BTreeMap<Uuid, Vec<String>>,
}

impl ViewBatch {
    pub fn len(&self) -> usize {
        self.comics.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.comics.values().all(Vec::is_empty)
    }
}

/// The key the once per 10 minutes rule remembers for `reader` viewing
/// `comic`: 16 bytes, whatever the length of the reader's key.
pub fn seen_key(comic: Uuid, reader: &str) -> u128 {
    Uuid::new_v5(&comic, reader.as_bytes()).as_u128()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_round_trips_through_json_and_counts_its_views() {
        let a = Uuid::from_u128(1);
        let b = Uuid::from_u128(2);
        let batch = ViewBatch {
            comics: BTreeMap::from([
                (a, vec!["u:alice".into(), "a:10.0.0.1".into()]),
                (b, vec!["u:alice".into()]),
            ]),
        };
        assert_eq!(batch.len(), 3);
        let json = serde_json::to_vec(&batch).unwrap();
        assert_eq!(serde_json::from_slice::<ViewBatch>(&json).unwrap(), batch);
        assert!(serde_json::from_slice::<ViewBatch>(br#"{"comics":{},"x":1}"#).is_err());
    }

    #[test]
    fn seen_keys_differ_by_comic_and_by_reader() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        assert_eq!(seen_key(a, "u:alice"), seen_key(a, "u:alice"));
        assert_ne!(seen_key(a, "u:alice"), seen_key(b, "u:alice"));
        assert_ne!(seen_key(a, "u:alice"), seen_key(a, "u:alicf"));
    }
}
