//! What a batch changed, for the read caches: the comics its events name.
//! Projectors whose events do not all name their comic, or whose batches
//! move figures every comic shows, refine it (see [`crate::Projector::changes`]).

use comics_common::projections::Changes;
use comics_domain::aggregate_types::{COMIC, POPULARITY};
use comics_eventlog::EventRecord;
use uuid::Uuid;

/// The comic an event is about, when the event itself says: a Comic or
/// Popularity aggregate is keyed by its comic, other events carry `comic_id`.
pub fn comic_named_by(event: &EventRecord) -> Option<Uuid> {
    if let Some(id) = event.payload.get("comic_id").and_then(|v| v.as_str()) {
        return id.parse().ok();
    }
    match event.aggregate_type.as_str() {
        COMIC | POPULARITY => event.aggregate_id.parse().ok(),
        _ => None,
    }
}

/// The changes `events` name by themselves: their comics, and whether one of
/// them deleted a comic.
pub fn named_by(events: &[&EventRecord]) -> Changes {
    let mut comics: Vec<Uuid> = events.iter().filter_map(|e| comic_named_by(e)).collect();
    comics.sort_unstable();
    comics.dedup();
    Changes {
        comics,
        deleted: events
            .iter()
            .any(|e| e.aggregate_type == COMIC && e.event_type == "ComicDeleted"),
        ..Changes::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(
        aggregate_type: &str,
        id: Uuid,
        event_type: &str,
        payload: serde_json::Value,
    ) -> EventRecord {
        EventRecord {
            position: 1,
            aggregate_type: aggregate_type.into(),
            aggregate_id: id.to_string(),
            sequence: 1,
            event_type: event_type.into(),
            event_version: "1".into(),
            payload,
            metadata: json!({}),
            recorded_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn events_name_their_comic_and_deletions() {
        let (comic, other, rating) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let updated = event(COMIC, comic, "ComicUpdated", json!({"changes": {}}));
        let rated = event("Rating", rating, "RatingGiven", json!({"comic_id": other}));
        let renamed = event("Chapter", rating, "ChapterUpdated", json!({"changes": {}}));
        let changes = named_by(&[&updated, &rated, &renamed]);
        let mut expected = vec![comic, other];
        expected.sort();
        assert_eq!(changes.comics, expected);
        assert!(!changes.deleted);
        let deleted = event(COMIC, comic, "ComicDeleted", json!({}));
        assert!(named_by(&[&deleted]).deleted);
    }
}
