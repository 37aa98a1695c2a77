//! The relay's metrics.

use std::time::{Duration, Instant};

use super::flight::Flight;

/// The relay's metrics (see `comics_common::metrics`).
#[derive(Default)]
pub(super) struct Meter {
    /// When the events behind were last counted.
    counted: Option<Instant>,
}

/// How often the relay counts the events behind it while it is behind.
const COUNT_BEHIND_EVERY: Duration = Duration::from_secs(1);

impl Meter {
    /// `flight` was acknowledged; `last` when it was all there was to read.
    pub(super) async fn published(
        &mut self,
        flight: &Flight,
        last: bool,
        leader: &mut sqlx::PgConnection,
    ) -> anyhow::Result<()> {
        let (Some(recorded_at), cursor) = (flight.newest, flight.end.cursor) else {
            return Ok(());
        };
        metrics::gauge!("comics_relay_position").set(cursor.position as f64);
        metrics::counter!("comics_relay_published_total")
            .increment(flight.end.last_sequence - flight.after);
        let lag = (chrono::Utc::now() - recorded_at).num_milliseconds().max(0);
        metrics::gauge!("comics_relay_seconds_behind").set(lag as f64 / 1000.0);
        if last {
            metrics::gauge!("comics_relay_events_behind").set(0.0);
        } else if self
            .counted
            .is_none_or(|t| t.elapsed() >= COUNT_BEHIND_EVERY)
        {
            // Positions are handed out at insert, not commit, so this is
            // what is in the log past the cursor, committed or about to be.
            let newest: Option<i64> = sqlx::query_scalar("SELECT max(position) FROM events")
                .fetch_one(&mut *leader)
                .await?;
            let behind = newest.unwrap_or(0).saturating_sub(cursor.position).max(0);
            metrics::gauge!("comics_relay_events_behind").set(behind as f64);
            self.counted = Some(Instant::now());
        }
        Ok(())
    }

    /// Nothing is left to publish.
    pub(super) fn caught_up(&mut self) {
        metrics::gauge!("comics_relay_events_behind").set(0.0);
        metrics::gauge!("comics_relay_seconds_behind").set(0.0);
    }
}
