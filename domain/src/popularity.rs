//! The Popularity aggregate: one comic's recorded views (its id is the
//! comic's id). Views arrive in batches from a durable intake stream, each
//! with its stream sequence, so a redelivered batch is recorded only once.

use std::collections::BTreeMap;

use chrono::{DateTime, Timelike, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Views of one comic in one message of the intake stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    /// The message's sequence in the intake stream.
    pub seq: u64,
    /// When the message was stored.
    pub at: DateTime<Utc>,
    /// How many views of the comic it brought that count.
    pub count: u64,
}

/// How many views fell within one minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinuteCount {
    /// The start of the minute.
    pub minute: DateTime<Utc>,
    pub count: u64,
}

/// The start of the minute `at` falls in.
pub fn minute_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(at)
}

#[derive(Debug, Clone, PartialEq)]
pub enum PopularityCommand {
    RecordViews { comic_id: Uuid, views: Vec<View> },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PopularityEvent {
    /// Views not recorded before: how many, the highest stream sequence among
    /// them, and their per-minute histogram sorted by minute.
    ViewsRecorded {
        comic_id: Uuid,
        count: u64,
        last_view_seq: u64,
        minutes: Vec<MinuteCount>,
    },
}

impl DomainEvent for PopularityEvent {
    fn event_type(&self) -> String {
        match self {
            Self::ViewsRecorded { .. } => "ViewsRecorded",
        }
        .to_string()
    }
    fn event_version(&self) -> String {
        "1".to_string()
    }
}

/// Recording views never fails; the type exists for the `Aggregate` trait.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PopularityError {}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Popularity {
    /// The highest intake sequence recorded so far.
    pub last_view_seq: u64,
    /// All views recorded so far.
    pub total: u64,
}

impl Aggregate for Popularity {
    const TYPE: &'static str = crate::aggregate_types::POPULARITY;
    type Command = PopularityCommand;
    type Event = PopularityEvent;
    type Error = PopularityError;
    // Views of a deleted comic are still recorded (reads hide the comic), so
    // nothing outside the aggregate is needed.
    type Services = ();

    async fn handle(
        &mut self,
        command: PopularityCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), PopularityError> {
        match command {
            PopularityCommand::RecordViews { comic_id, views } => {
                // New views by sequence: a sequence seen before (in an earlier
                // batch, or twice in this one) counts once.
                let new: BTreeMap<u64, (DateTime<Utc>, u64)> = views
                    .into_iter()
                    .filter(|v| v.seq > self.last_view_seq && v.count > 0)
                    .map(|v| (v.seq, (v.at, v.count)))
                    .collect();
                let Some(&last_view_seq) = new.keys().next_back() else {
                    return Ok(());
                };
                let mut per_minute: BTreeMap<DateTime<Utc>, u64> = BTreeMap::new();
                for (at, count) in new.values() {
                    *per_minute.entry(minute_of(*at)).or_default() += count;
                }
                let minutes = per_minute
                    .into_iter()
                    .map(|(minute, count)| MinuteCount { minute, count })
                    .collect();
                sink.write(
                    PopularityEvent::ViewsRecorded {
                        comic_id,
                        count: new.values().map(|(_, count)| count).sum(),
                        last_view_seq,
                        minutes,
                    },
                    self,
                )
                .await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: PopularityEvent) {
        match event {
            PopularityEvent::ViewsRecorded {
                count,
                last_view_seq,
                ..
            } => {
                self.total += count;
                self.last_view_seq = self.last_view_seq.max(last_view_seq);
            }
        }
    }
}

#[cfg(test)]
#[path = "popularity_tests.rs"]
mod tests;
