//! A batch the relay sent, its acknowledgements outstanding.

use anyhow::Context;
use async_nats::jetstream::context::PublishAckFuture;

use super::StreamEnd;

/// A batch sent, its acknowledgements outstanding.
pub(super) struct Flight {
    pub(super) acks: Vec<PublishAckFuture>,
    /// The stream sequence the batch follows.
    pub(super) after: u64,
    /// Where the stream ends once the batch is in.
    pub(super) end: StreamEnd,
    /// When its newest event was recorded.
    pub(super) newest: Option<chrono::DateTime<chrono::Utc>>,
}

impl Flight {
    /// Awaits the acknowledgements, each the sequence after the one before;
    /// `end` is where the stream ended before the batch.
    pub(super) async fn confirm(&mut self, end: StreamEnd) -> anyhow::Result<StreamEnd> {
        anyhow::ensure!(
            end.last_sequence == self.after,
            "batches confirmed out of turn (the stream ends at {}, the batch follows {})",
            end.last_sequence,
            self.after
        );
        let mut last_sequence = self.after;
        for ack in std::mem::take(&mut self.acks) {
            let ack = ack.await.context("publish was not acknowledged")?;
            if ack.duplicate || ack.sequence != last_sequence + 1 {
                anyhow::bail!(
                    "stream out of step (expected sequence {}, got {}{})",
                    last_sequence + 1,
                    ack.sequence,
                    if ack.duplicate { ", duplicate" } else { "" }
                );
            }
            last_sequence = ack.sequence;
        }
        debug_assert_eq!(last_sequence, self.end.last_sequence);
        Ok(self.end)
    }
}
