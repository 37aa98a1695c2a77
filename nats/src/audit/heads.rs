//! The chain's published heads: after every [`HEAD_EVERY`] seals, and when
//! the log has been quiet for a moment, the sealer publishes the newest seal
//! to `<PREFIX>_AUDIT_HEADS`, a stream whose messages can be neither deleted
//! nor purged. Whoever rewrites the log and its seals consistently cannot
//! rewrite these, so `comics audit verify` catches that too.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::{self, consumer::pull::OrderedConfig};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::stream::{ensure_audit_heads_stream, Names};

/// A head is published at least once per this many seals.
pub const HEAD_EVERY: i64 = 1000;

/// One published head: the seal of the `chain_index`-th event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub chain_index: i64,
    pub position: i64,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    /// Lower-case hex of the seal.
    pub seal: String,
    pub published_at: DateTime<Utc>,
}

/// Publishes `head` and waits for the stream to store it (a head published
/// twice is stored once: its message id is its chain index).
pub async fn publish(js: &jetstream::Context, names: &Names, head: &Head) -> anyhow::Result<()> {
    let message = jetstream::message::PublishMessage::build()
        .payload(serde_json::to_vec(head)?.into())
        .message_id(format!("head:{}", head.chain_index));
    js.send_publish(names.audit_heads_subject(), message)
        .await?
        .await
        .context("the audit head was not stored")?;
    Ok(())
}

/// Every published head by chain index, the first one of each index (the stream is created if missing;
/// a message that is not a head is an error).
pub async fn read_all(
    js: &jetstream::Context,
    names: &Names,
) -> anyhow::Result<BTreeMap<i64, Head>> {
    let mut stream = ensure_audit_heads_stream(js, names).await?;
    let last = stream.info().await?.state.last_sequence;
    let mut heads = BTreeMap::new();
    if last == 0 {
        return Ok(heads);
    }
    let consumer = stream
        .create_consumer(OrderedConfig {
            filter_subject: names.audit_heads_subject(),
            ..Default::default()
        })
        .await
        .context("cannot read the audit heads")?;
    let mut messages = consumer.messages().await?;
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .context("the audit heads stream stopped delivering")?
            .context("the audit heads stream ended")??;
        let seq = message
            .info()
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .stream_sequence;
        let head: Head = serde_json::from_slice(&message.payload)
            .with_context(|| format!("audit heads message {seq} is not a head"))?;
        // The first head published for an index is the one of record: a
        // later one (a sealer run over a rewritten table) cannot replace it.
        heads.entry(head.chain_index).or_insert(head);
        if seq >= last {
            return Ok(heads);
        }
    }
}
