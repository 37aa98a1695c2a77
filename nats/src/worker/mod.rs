//! Background workers: one shape for every task that follows an ordered log
//! and keeps a position of record — the relay (the event log → the events
//! stream), the view recorder (the views stream → the event log) and every
//! projector (the events stream → a query store).
//!
//! [`supervise`] runs a worker until shutdown; [`ordered::run`] is a worker
//! over a JetStream stream. What holds for all of them, whatever process
//! dies when:
//!
//! 1. **One leader.** A worker with a [`Leadership`] runs in one instance at
//!    a time: it holds a Postgres session advisory lock while it runs, and a
//!    process that dies loses the lock with its connection. A projector needs
//!    none: its checkpoint row, locked in every batch's transaction, orders
//!    concurrent runners.
//! 2. **Resume from the position of record.** The position is stored with
//!    the worker's effects — in the same transaction as the rows it writes,
//!    or, for the relay, as the last message of the stream itself. Every
//!    (re)start reads it and delivers from just after it; nothing before it
//!    is done twice, nothing after it skipped.
//! 3. **In order, without gaps.** A delivery out of turn (a redelivery after
//!    an ack timeout) starts over from the stored position rather than
//!    skipping; messages at or before the position are acknowledged unread.
//! 4. **Batches.** Messages arriving within a short linger of a batch's
//!    first are handled together (one transaction for many), and are
//!    acknowledged only after their effects are committed.
//! 5. **Back-off, never give up.** An error drops the attempt's connection
//!    and consumer, waits [`RETRY`], and resumes by rule 2. Only shutdown
//!    ends a worker; it finishes the batch in hand.

pub mod leader;
pub mod ordered;

use std::time::Duration;

use async_trait::async_trait;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

/// How long a worker waits after an error before it resumes.
pub const RETRY: Duration = Duration::from_millis(500);

/// How one attempt of a worker ended, when it did not fail.
#[derive(Debug)]
pub enum Stop {
    /// Shutdown was asked for.
    Shutdown,
    /// Start over at once from the stored position (the reason is logged).
    Restart(String),
}

/// Runs a worker in one instance at a time: the advisory lock `key`,
/// taken on a connection of its own from `pool`.
#[derive(Clone)]
pub struct Leadership {
    pub pool: PgPool,
    pub key: String,
}

/// One run of a worker, from its stored position until shutdown, a restart
/// or an error. `leader` is the connection holding the leadership lock, when
/// the worker has a [`Leadership`] (the relay reads the log on it).
#[async_trait]
pub trait Attempt: Send + Sync {
    async fn attempt(
        &self,
        leader: Option<&mut PgConnection>,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<Stop>;
}

/// Runs `work` until `shutdown`: takes the leadership (when given), runs an
/// attempt, and after a restart or an error (waiting [`RETRY`]) runs another.
pub async fn supervise(
    name: &str,
    leadership: Option<&Leadership>,
    work: &dyn Attempt,
    shutdown: &CancellationToken,
) {
    while !shutdown.is_cancelled() {
        let mut lock = None;
        if let Some(l) = leadership {
            let acquired = tokio::select! {
                _ = shutdown.cancelled() => return,
                c = leader::acquire(&l.pool, &l.key) => c,
            };
            match acquired {
                Ok(conn) => {
                    tracing::info!(worker = name, "took the lead");
                    lock = Some(conn);
                }
                Err(e) => {
                    tracing::warn!(
                        worker = name,
                        error = format!("{e:#}"),
                        "cannot take the lead; retrying"
                    );
                    pause(shutdown).await;
                    continue;
                }
            }
        }
        let outcome = work.attempt(lock.as_mut(), shutdown).await;
        drop(lock);
        match outcome {
            Ok(Stop::Shutdown) => return,
            Ok(Stop::Restart(reason)) => {
                tracing::info!(
                    worker = name,
                    reason,
                    "starting over from the stored position"
                );
            }
            Err(e) => {
                tracing::warn!(
                    worker = name,
                    error = format!("{e:#}"),
                    "interrupted; resuming"
                );
                pause(shutdown).await;
            }
        }
    }
}

async fn pause(shutdown: &CancellationToken) {
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = tokio::time::sleep(RETRY) => {}
    }
}
