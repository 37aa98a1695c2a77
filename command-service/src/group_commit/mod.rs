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
//!    executed alone ([`crate::handle::execute`]), which retries conflicts as any command
//!    does.
//!
//! The services a round decides with are made once per round, before its
//! first pass, from the round's commands ([`RoundServices`]): what the
//! commands will ask (is the comic live?) is read for all of them in one
//! statement, and every pass of the round is answered from that.

mod round;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use cqrs_es::{Aggregate, AggregateError};
use tokio::sync::{mpsc, oneshot};

use comics_common::db::Held;

use crate::handle::{Executed, Refused};
use crate::store::Store;
use round::{commit_round, Job};

/// The most commands decided and appended together.
const ROUND: usize = 256;
/// Commands waiting beyond this make callers wait for room.
const QUEUE: usize = 4096;
/// Rounds in flight at once, each for its own share of the aggregates (by a
/// hash of the id), so that two rounds never hold the same aggregate. One:
/// on two cores a second shard halved the rounds' size, and Postgres took
/// 73 % of a core instead of 56 % for the same rating load.
const SHARDS: usize = 1;

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
    ) -> Result<Executed, Refused<A::Error>> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            id: id.clone(),
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
        let committed = answer.await.unwrap_or_else(|_| Err(stopped()));
        let executed = committed.map(|c| Executed::of::<A>(&id, c));
        crate::handle::meter::<A>(executed.as_ref());
        executed
    }
}

/// The committer is gone (the process is shutting down): 503, as when the
/// database cannot be reached.
fn stopped<E: std::error::Error>() -> Refused<E> {
    Refused::Aggregate(AggregateError::DatabaseConnectionError(
        "the group committer stopped".into(),
    ))
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
