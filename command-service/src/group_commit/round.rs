//! One round of a group commit: its commands decided on their aggregates
//! (on the copies in memory first, then caught up with the store, then
//! alone) and their events appended with one statement per pass.

use std::collections::HashMap;
use std::sync::Arc;

use comics_common::db::Held;
use cqrs_es::persist::EventStoreAggregateContext;
use cqrs_es::{Aggregate, AggregateError};
use tokio::sync::oneshot;

use crate::handle::{decide, execute, Committed, Refused};
use crate::store::{database_error, Append, Store};

type Reply<A> = oneshot::Sender<Result<Committed, Refused<<A as Aggregate>::Error>>>;

/// One command waiting for its round, and where its answer goes.
pub struct Job<A: Aggregate> {
    pub id: String,
    pub command: A::Command,
    pub metadata: HashMap<String, String>,
    pub reply: Reply<A>,
}

/// An aggregate to decide on, and whether it was read from the store for
/// this pass (else it is the copy held in memory).
type Loaded<A> = (EventStoreAggregateContext<A>, bool);

/// Settles a round: first on the copies held in memory; what that leaves
/// open (an append that conflicted, a command with nothing to append) goes
/// again as one group on the store's state; only what conflicts then goes
/// alone.
pub async fn commit_round<A>(
    store: &Arc<Store<A>>,
    services: &A::Services,
    held: &mut Held,
    round: Vec<Job<A>>,
) where
    A: Aggregate + Clone + 'static,
    A::Command: Clone + Send + 'static,
    A::Error: Send,
{
    let again = decide_and_append(store, services, held, round, Copies::Trust).await;
    if again.is_empty() {
        return;
    }
    let alone = decide_and_append(store, services, held, again, Copies::CatchUp).await;
    for job in alone {
        let result = execute(store, services, &job.id, job.command, &job.metadata, None).await;
        let _ = job.reply.send(result);
    }
}

/// Whether a pass decides on the in-memory copies as they are.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Copies {
    /// Decide on a copy without reading the store. A copy is a committed
    /// state: current, or another process appended after it and the append
    /// conflicts. A command a copy leaves with nothing to append (refused,
    /// or already so) is handed back, as no append would catch a stale copy.
    Trust,
    /// Read what was appended after each copy first.
    CatchUp,
}

/// Decides each job on its aggregate and appends all the events in one
/// statement, answering the jobs it settles; returns the jobs to try again
/// (all of the appending ones on a conflict, and with [`Copies::Trust`]
/// those decided on a copy with nothing to append).
async fn decide_and_append<A>(
    store: &Arc<Store<A>>,
    services: &A::Services,
    held: &mut Held,
    round: Vec<Job<A>>,
    copies: Copies,
) -> Vec<Job<A>>
where
    A: Aggregate + Clone + 'static,
    A::Command: Clone + Send + 'static,
    A::Error: Send,
{
    let contexts = match load_round(store, held, &round, copies).await {
        Ok(contexts) => contexts,
        Err(e) => {
            held.discard();
            tracing::warn!(aggregate = A::TYPE, error = %e, "cannot load a round of commands");
            for job in round {
                let _ = job.reply.send(Err(each(&e)));
            }
            return Vec::new();
        }
    };
    let mut appends = Vec::new();
    let mut pending = Vec::new();
    let mut again = Vec::new();
    for (job, (mut context, fresh)) in round.into_iter().zip(contexts) {
        let decided = decide(&mut context.aggregate, job.command.clone(), services).await;
        let current = context.current_sequence as i64;
        match decided {
            Err(_) if !fresh => again.push(job),
            Err(e) => {
                let _ = job.reply.send(Err(e.into()));
            }
            Ok(events) => {
                if events.is_empty() && !fresh {
                    again.push(job);
                } else if events.is_empty() {
                    let _ = job.reply.send(Ok(Committed {
                        version: current,
                        changed: false,
                    }));
                } else {
                    let version = current + events.len() as i64;
                    appends.push((context, events, job.metadata.clone()));
                    pending.push((job, version));
                }
            }
        }
    }
    if !appends.is_empty() {
        again.extend(append_round(store, held, appends, pending).await);
    }
    again
}

/// The aggregates of a round's jobs, in order: with [`Copies::Trust`] the
/// copies held in memory, and the others (all with [`Copies::CatchUp`])
/// read as of the store in one statement on `held`.
async fn load_round<A>(
    store: &Store<A>,
    held: &mut Held,
    round: &[Job<A>],
    copies: Copies,
) -> Result<Vec<Loaded<A>>, AggregateError<A::Error>>
where
    A: Aggregate + Clone,
{
    let held_copies: Vec<Option<(A, usize)>> = round
        .iter()
        .map(|j| match copies {
            Copies::Trust => store.cached(&j.id),
            Copies::CatchUp => None,
        })
        .collect();
    let missing: Vec<&str> = round
        .iter()
        .zip(&held_copies)
        .filter(|(_, copy)| copy.is_none())
        .map(|(j, _)| j.id.as_str())
        .collect();
    let mut loaded = if missing.is_empty() {
        Vec::new()
    } else {
        let db = held.get().await.map_err(database_error)?;
        store.load_many(db, &missing).await?
    }
    .into_iter();
    Ok(round
        .iter()
        .zip(held_copies)
        .map(|(job, copy)| match copy {
            Some((aggregate, sequence)) => (
                EventStoreAggregateContext {
                    aggregate_id: job.id.clone(),
                    aggregate,
                    current_sequence: sequence,
                    current_snapshot: None,
                },
                false,
            ),
            None => (loaded.next().expect("one loaded per missing copy"), true),
        })
        .collect())
}
/// Appends a round's events in one statement and answers their commands;
/// on a conflict (another process appended to one of the aggregates) it
/// answers none and hands them all back.
async fn append_round<A>(
    store: &Arc<Store<A>>,
    held: &mut Held,
    appends: Vec<Append<A>>,
    pending: Vec<(Job<A>, i64)>,
) -> Vec<Job<A>>
where
    A: Aggregate + Clone + 'static,
    A::Command: Clone + Send + 'static,
    A::Error: Send,
{
    let appended = match held.get().await {
        Ok(db) => store.append_many_in(db, appends).await,
        Err(e) => Err(database_error(e)),
    };
    match appended {
        Ok(after) => {
            store.keep_all(after);
            for (job, version) in pending {
                let _ = job.reply.send(Ok(Committed {
                    version,
                    changed: true,
                }));
            }
            Vec::new()
        }
        Err(AggregateError::AggregateConflict) => {
            tracing::debug!(aggregate = A::TYPE, "group append conflicted");
            pending.into_iter().map(|(job, _)| job).collect()
        }
        Err(e) => {
            held.discard();
            tracing::warn!(aggregate = A::TYPE, error = %e, "cannot append a round of commands");
            for (job, _) in pending {
                let _ = job.reply.send(Err(each(&e)));
            }
            Vec::new()
        }
    }
}

/// The same failure for each command of a round (errors are not `Clone`):
/// the database unreachable stays 503, anything else stays 500.
fn each<E: std::error::Error>(e: &AggregateError<E>) -> Refused<E> {
    let message = e.to_string();
    Refused::Aggregate(match e {
        AggregateError::DatabaseConnectionError(_) => {
            AggregateError::DatabaseConnectionError(message.into())
        }
        AggregateError::AggregateConflict => AggregateError::AggregateConflict,
        _ => AggregateError::UnexpectedError(message.into()),
    })
}
