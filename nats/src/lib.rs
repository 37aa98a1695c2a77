//! NATS JetStream for the comics platform: the stream and consumer
//! definitions of `nats/definitions`, the relay that tails the Postgres event
//! log in commit order (read with `comics_eventlog`) and publishes it without
//! loss, gap or duplicate, the ordered-consumer workers, and the audit's
//! sealer, published heads and verify.
#![forbid(unsafe_code)]

pub mod audit;
pub mod relay;
pub mod stream;
pub mod worker;

pub use stream::Names;

/// The longest wait between two attempts to reconnect to a lost server.
/// The client's default doubles up to 4 s, so a server back after a long
/// outage was found up to 4 s late; an attempt on loopback or a LAN costs a
/// refused connection, so trying often costs little.
pub const RECONNECT_DELAY_MAX: std::time::Duration = std::time::Duration::from_millis(100);

/// The wait before reconnect attempt `attempts` (1 = the first): none, then
/// doubling from 2 ms up to [`RECONNECT_DELAY_MAX`].
pub fn reconnect_delay(attempts: usize) -> std::time::Duration {
    if attempts <= 1 {
        return std::time::Duration::ZERO;
    }
    let exp = u32::try_from(attempts - 1).unwrap_or(u32::MAX).min(16);
    std::time::Duration::from_millis(1u64 << exp).min(RECONNECT_DELAY_MAX)
}

/// Connects to NATS with a name that shows up in the server's monitoring.
pub async fn connect(url: &str, name: &str) -> anyhow::Result<async_nats::Client> {
    use anyhow::Context;
    async_nats::ConnectOptions::new()
        .name(name)
        .connection_timeout(std::time::Duration::from_secs(5))
        .reconnect_delay_callback(reconnect_delay)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_attempts_back_off_but_never_past_the_cap() {
        assert_eq!(reconnect_delay(1), std::time::Duration::ZERO);
        assert_eq!(reconnect_delay(2), std::time::Duration::from_millis(2));
        assert_eq!(reconnect_delay(5), std::time::Duration::from_millis(16));
        assert_eq!(reconnect_delay(8), RECONNECT_DELAY_MAX);
        assert_eq!(reconnect_delay(usize::MAX), RECONNECT_DELAY_MAX);
    }
}
