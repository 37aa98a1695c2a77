//! Group commit: commands for many small aggregates (one user's rating of
//! one comic, one user's library) arriving together are loaded with one
//! query and appended with one statement, instead of a load and a
//! transaction each. Each command is still decided alone by its aggregate,
//! against its current state; only the round trips are shared.
//!
//! A round holds at most one command per aggregate (a second one waits for
//! the next round, so it sees the first one's events). The append is a single
//! `INSERT`, atomic on its own: if another process appended to one of the
//! aggregates meanwhile, the whole statement fails on the event key. Nothing
//! is answered before its events are committed.
//!
//! A round goes in up to three passes:
//! 1. Aggregates this process holds in memory ([`Store::cached`]) are
//!    decided on that copy without a read. A copy is a committed state, so
//!    it is either current or another process appended after it, and then
//!    the append conflicts. A command that a copy leaves with nothing to
//!    append (refused, or already so) has no append to catch a stale copy.
//! 2. Those commands, and all of an append that conflicted, go again as one
//!    group, each aggregate caught up with the store first (one query).
//! 3. Only what conflicts then (a true race with another process) is
//!    executed alone ([`execute`]), which retries conflicts as any command
//!    does.
//!
//! The services a round decides with are made once per round, before its
//! first pass, from the round's commands ([`RoundServices`]): what the
//! commands will ask (is the comic live?) is read for all of them in one
//! statement, and every pass of the round is answered from that.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::EventStoreAggregateContext;
use cqrs_es::{Aggregate, AggregateError};
use tokio::sync::{mpsc, oneshot};

use comics_common::db::Held;

use crate::bus::{database_error, execute, Append, Committed, Refused, Store};

/// The most commands decided and appended together.
const ROUND: usize = 256;
/// Commands waiting beyond this make callers wait for room.
const QUEUE: usize = 4096;
/// Rounds in flight at once, each for its own share of the aggregates (by a
/// hash of the id), so that two rounds never hold the same aggregate. One:
/// on two cores a second shard halved the rounds' size, and Postgres took
/// 73 % of a core instead of 56 % for the same rating load.
const SHARDS: usize = 1;

type Reply<A> = oneshot::Sender<Result<Committed, Refused<<A as Aggregate>::Error>>>;

struct Job<A: Aggregate> {
    id: String,
    command: A::Command,
    metadata: HashMap<String, String>,
    reply: Reply<A>,
}

/// Makes the services one round decides with, once per round and before
/// its first pass, so they may remember answers within the round.
#[async_trait]
pub trait RoundServices<A: Aggregate>: Send + Sync + 'static {
    /// The services for a round of `commands`; they may read beforehand,
    /// on the round's connection `held`, what the commands will ask.
    async fn for_round(&self, held: &mut Held, commands: &[&A::Command]) -> A::Services;
}

/// The front of one aggregate type's group committer.
pub struct GroupCommit<A: Aggregate> {
    shards: Vec<mpsc::Sender<Job<A>>>,
    rounds: Arc<AtomicU64>,
}

impl<A> GroupCommit<A>
where
    A: Aggregate + Clone + 'static,
    A::Command: Clone + Send + Sync + 'static,
    A::Error: Send,
    A::Services: Send + Sync + 'static,
{
    /// Starts the committer; `services` makes the services each round
    /// decides with.
    pub fn start(store: Arc<Store<A>>, services: impl RoundServices<A>) -> Self {
        let services = Arc::new(services);
        let rounds = Arc::new(AtomicU64::new(0));
        let shards = (0..SHARDS)
            .map(|_| {
                let (queue, jobs) = mpsc::channel(QUEUE / SHARDS);
                let committer = Committer {
                    store: store.clone(),
                    services: services.clone(),
                    rounds: rounds.clone(),
                };
                tokio::spawn(committer.run(jobs));
                queue
            })
            .collect();
        Self { shards, rounds }
    }

    /// How many rounds the committer has gone through so far.
    pub fn rounds(&self) -> u64 {
        self.rounds.load(Ordering::Relaxed)
    }

    /// Decides `command` against aggregate `id` and appends its events.
    pub async fn execute(
        &self,
        id: String,
        command: A::Command,
        metadata: HashMap<String, String>,
    ) -> Result<Committed, Refused<A::Error>> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            id,
            command,
            metadata,
            reply,
        };
        let shard = {
            let mut h = std::hash::DefaultHasher::new();
            std::hash::Hash::hash(&job.id, &mut h);
            std::hash::Hasher::finish(&h) as usize % self.shards.len()
        };
        if self.shards[shard].send(job).await.is_err() {
            return Err(stopped());
        }
        answer.await.unwrap_or_else(|_| Err(stopped()))
    }
}

/// The committer is gone (the process is shutting down): 503, as when the
/// database cannot be reached.
fn stopped<E: std::error::Error>() -> Refused<E> {
    Refused::Aggregate(AggregateError::DatabaseConnectionError(
        "the group committer stopped".into(),
    ))
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

/// One shard of a group committer: takes rounds of jobs off its queue.
struct Committer<A: Aggregate, S> {
    store: Arc<Store<A>>,
    services: Arc<S>,
    rounds: Arc<AtomicU64>,
}

impl<A, S> Committer<A, S>
where
    A: Aggregate + Clone + 'static,
    A::Command: Clone + Send + Sync + 'static,
    A::Error: Send,
    S: RoundServices<A>,
{
    async fn run(self, mut jobs: mpsc::Receiver<Job<A>>) {
        let mut waiting: VecDeque<Job<A>> = VecDeque::new();
        let mut db = Held::new(self.store.pool().clone());
        loop {
            if waiting.is_empty() {
                match jobs.recv().await {
                    Some(job) => waiting.push_back(job),
                    None => return,
                }
            }
            while waiting.len() < ROUND {
                match jobs.try_recv() {
                    Ok(job) => waiting.push_back(job),
                    Err(_) => break,
                }
            }
            let round = next_round(&mut waiting);
            let commands: Vec<&A::Command> = round.iter().map(|j| &j.command).collect();
            let services = self.services.for_round(&mut db, &commands).await;
            self.rounds.fetch_add(1, Ordering::Relaxed);
            commit_round(&self.store, &services, &mut db, round).await;
        }
    }
}

/// Takes the next round off `waiting`: one command per aggregate; later
/// ones keep their order for the next round.
fn next_round<A: Aggregate>(waiting: &mut VecDeque<Job<A>>) -> Vec<Job<A>> {
    let mut round = Vec::with_capacity(waiting.len().min(ROUND));
    let mut ids = HashSet::new();
    let mut rest = VecDeque::new();
    while let Some(job) = waiting.pop_front() {
        if round.len() < ROUND && ids.insert(job.id.clone()) {
            round.push(job);
        } else {
            rest.push_back(job);
        }
    }
    *waiting = rest;
    round
}

async fn commit_round<A>(
    store: &Arc<Store<A>>,
    services: &A::Services,
    held: &mut Held,
    round: Vec<Job<A>>,
) where
    A: Aggregate + Clone + 'static,
    A::Command: Clone + Send + 'static,
    A::Error: Send,
{
    // First on the copies held in memory; what that leaves open (an append
    // that conflicted, a command with nothing to append) goes again as one
    // group on the store's state; only what conflicts then goes alone.
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
    let loaded = if missing.is_empty() {
        Ok(Vec::new())
    } else {
        match held.get().await {
            Ok(db) => store.load_many(db, &missing).await,
            Err(e) => Err(database_error(e)),
        }
    };
    let mut loaded = match loaded {
        Ok(c) => c.into_iter(),
        Err(e) => {
            held.discard();
            tracing::warn!(aggregate = A::TYPE, error = %e, "cannot load a round of commands");
            for job in round {
                let _ = job.reply.send(Err(each(&e)));
            }
            return Vec::new();
        }
    };
    let contexts: Vec<(EventStoreAggregateContext<A>, bool)> = round
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
        .collect();
    let mut appends = Vec::new();
    let mut pending = Vec::new();
    let mut again = Vec::new();
    for (job, (mut context, fresh)) in round.into_iter().zip(contexts) {
        let sink = EventSink::<A>::default();
        let decided = context
            .aggregate
            .handle(job.command.clone(), services, &sink)
            .await;
        let current = context.current_sequence as i64;
        match decided {
            Err(_) if !fresh => again.push(job),
            Err(e) => {
                let _ = job.reply.send(Err(AggregateError::UserError(e).into()));
            }
            Ok(()) => {
                let events = sink.collect().await;
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
