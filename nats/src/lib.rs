//! NATS JetStream for the comics platform: the stream and consumer
//! definitions of `nats/definitions`, the event record every message carries
//! (the audit item of API.md), and the relay that tails the Postgres event
//! log in commit order and publishes it without loss, gap or duplicate.
#![forbid(unsafe_code)]

pub mod audit;
pub mod record;
pub mod relay;
pub mod stream;
pub mod worker;

pub use record::{CommitCursor, EventRecord};
pub use stream::Names;

/// Connects to NATS with a name that shows up in the server's monitoring.
pub async fn connect(url: &str, name: &str) -> anyhow::Result<async_nats::Client> {
    use anyhow::Context;
    async_nats::ConnectOptions::new()
        .name(name)
        .connection_timeout(std::time::Duration::from_secs(5))
        // A cluster's servers, comma-separated; the client fails over
        // between them.
        .connect(
            url.split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .collect::<Vec<_>>(),
        )
        .await
        .with_context(|| {
            format!("cannot connect to NATS at {url} (is nats-server -js running? see README, Prerequisites)")
        })
}
