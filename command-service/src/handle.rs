//! One aggregate type's handle on the write side: execute a command against
//! one aggregate (load from the event store, decide, append) and answer with
//! its new version and the consistency token that names it. A concurrent
//! append (a sequence conflict) is retried a bounded number of times, then
//! reported. Unlike `CqrsFramework::execute` this returns the new version,
//! which the API answers with.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use comics_common::consistency::ConsistencyToken;
use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::EventStoreAggregateContext;
use cqrs_es::{Aggregate, AggregateError};
use uuid::Uuid;

use crate::store::Store;

const ATTEMPTS: u32 = 5;

/// An aggregate type's event store and the services its aggregates decide
/// with: `handle.execute(id, command, &meta, if_match)`.
pub struct Handle<A: Aggregate> {
    store: Arc<Store<A>>,
    services: A::Services,
}

impl<A: Aggregate + Clone> Handle<A>
where
    A::Command: Clone,
{
    pub fn new(store: Arc<Store<A>>, services: A::Services) -> Self {
        Self { store, services }
    }

    /// The event store the commands run on.
    pub fn store(&self) -> &Arc<Store<A>> {
        &self.store
    }

    /// The current state of aggregate `id` and its version.
    pub async fn load(&self, id: Uuid) -> Result<(A, i64), AggregateError<A::Error>> {
        self.store.load(&id.to_string()).await
    }

    /// Decides `command` on aggregate `id` and appends its events, with
    /// `metadata`; `if_match` is the version the caller last saw, if any.
    pub async fn execute(
        &self,
        id: Uuid,
        command: A::Command,
        metadata: &HashMap<String, String>,
        if_match: Option<i64>,
    ) -> Result<Executed, Refused<A::Error>> {
        let id = id.to_string();
        let committed = execute(
            &self.store,
            &self.services,
            &id,
            command,
            metadata,
            if_match,
        );
        let executed = committed.await.map(|c| Executed::of::<A>(&id, c));
        meter::<A>(executed.as_ref());
        executed
    }

    /// Decides `commands` on aggregate `id` one after another, each on the
    /// state the ones before it left, and appends all their events in one
    /// statement (each command's events with its own metadata). Answers
    /// each command's outcome with what `observe` saw of the state it was
    /// decided on, in order; `None` when the load or the append failed (a
    /// conflict, the database), and then nothing was appended: the caller
    /// runs the commands alone, each meeting its own error or retry.
    pub async fn execute_all<T>(
        &self,
        id: Uuid,
        commands: Vec<(A::Command, HashMap<String, String>)>,
        observe: impl Fn(&A, &A::Command) -> T,
    ) -> Option<Vec<Result<(Executed, T), Refused<A::Error>>>> {
        let key = id.to_string();
        let context = self.store.load_aggregate(&key).await.ok()?;
        let (mut aggregate, mut sequence) = (context.aggregate, context.current_sequence);
        let mut appends = Vec::new();
        let mut outcomes = Vec::with_capacity(commands.len());
        for (command, metadata) in commands {
            let seen = observe(&aggregate, &command);
            let before = aggregate.clone();
            let events = match decide(&mut aggregate, command, &self.services).await {
                Ok(events) => events,
                Err(e) => {
                    aggregate = before;
                    outcomes.push(Err(Refused::Aggregate(e)));
                    continue;
                }
            };
            let committed = Committed {
                version: (sequence + events.len()) as i64,
                changed: !events.is_empty(),
            };
            outcomes.push(Ok((Executed::of::<A>(&key, committed), seen)));
            if events.is_empty() {
                continue;
            }
            let context = EventStoreAggregateContext {
                aggregate_id: key.clone(),
                aggregate: before,
                current_sequence: sequence,
                current_snapshot: None,
            };
            sequence += events.len();
            for event in &events {
                aggregate.apply(event.clone());
            }
            appends.push((context, events, metadata));
        }
        if !appends.is_empty() {
            let mut db = self.store.pool().acquire().await.ok()?;
            let appended = self.store.append_many_in(&mut db, appends).await.ok()?;
            self.store.keep_all(appended);
        }
        for outcome in &outcomes {
            meter::<A>(outcome.as_ref().map(|(executed, _)| executed));
        }
        Some(outcomes)
    }
}

/// Counts a command's outcome (`comics_commands_total{aggregate,outcome}`).
pub fn meter<A: Aggregate>(result: Result<&Executed, &Refused<A::Error>>) {
    let outcome = match result {
        Ok(e) if e.changed => "ok",
        Ok(_) => "unchanged",
        Err(Refused::StaleVersion { .. }) => "conflict",
        Err(Refused::Aggregate(e)) => match e {
            AggregateError::UserError(_) => "refused",
            AggregateError::AggregateConflict => "conflict",
            AggregateError::DatabaseConnectionError(_) => "unavailable",
            AggregateError::UnexpectedError(cause)
                if comics_common::db::is_unavailable_cause(&**cause) =>
            {
                "unavailable"
            }
            AggregateError::DeserializationError(_) | AggregateError::UnexpectedError(_) => "error",
        },
    };
    metrics::counter!("comics_commands_total", "aggregate" => A::TYPE, "outcome" => outcome)
        .increment(1);
}

/// The result of a command: the aggregate's version after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    pub version: i64,
    /// Whether the command produced any event.
    pub changed: bool,
}

/// A command's answer: the aggregate's version after it, and the token a
/// following read waits with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed {
    pub version: i64,
    /// Whether the command produced any event.
    pub changed: bool,
    /// Names aggregate `id` at `version`.
    pub token: ConsistencyToken,
}

impl Executed {
    /// The answer for aggregate `id` of type `A` after `committed`.
    pub fn of<A: Aggregate>(id: &str, committed: Committed) -> Self {
        let mut token = ConsistencyToken::default();
        token.push(A::TYPE, id, committed.version);
        Self {
            version: committed.version,
            changed: committed.changed,
            token,
        }
    }

    /// Adds this command's mark to `token`, the token of a request that
    /// runs several commands.
    pub fn mark(&self, token: &mut ConsistencyToken) {
        for m in &self.token.marks {
            token.push(&m.aggregate_type, &m.aggregate_id, m.sequence);
        }
    }
}

/// Why a command did not commit.
#[derive(Debug)]
pub enum Refused<E: std::error::Error> {
    Aggregate(AggregateError<E>),
    /// `If-Match` named a version that is not the current one.
    StaleVersion {
        current: i64,
    },
}

impl<E: std::error::Error> From<AggregateError<E>> for Refused<E> {
    fn from(e: AggregateError<E>) -> Self {
        Self::Aggregate(e)
    }
}

/// Loads aggregate `id` (caught up with the store), decides `command` on
/// it and appends its events; a sequence conflict is retried up to
/// [`ATTEMPTS`] times, unless `if_match` pins the version.
pub async fn execute<A: Aggregate + Clone>(
    store: &Store<A>,
    services: &A::Services,
    id: &str,
    command: A::Command,
    metadata: &HashMap<String, String>,
    if_match: Option<i64>,
) -> Result<Committed, Refused<A::Error>>
where
    A::Command: Clone,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut context = store.load_aggregate(id).await?;
        let current = context.current_sequence as i64;
        // A version of something that does not exist is not stale: the
        // aggregate refuses the command as "not found" instead.
        if let Some(expected) = if_match.filter(|_| current > 0) {
            if expected != current {
                return Err(Refused::StaleVersion { current });
            }
        }
        let events = decide(&mut context.aggregate, command.clone(), services).await?;
        let version = current + events.len() as i64;
        if events.is_empty() {
            return Ok(Committed {
                version,
                changed: false,
            });
        }
        match store.commit(events, context, metadata.clone()).await {
            Ok(_) => {
                return Ok(Committed {
                    version,
                    changed: true,
                })
            }
            Err(AggregateError::AggregateConflict) if attempt < ATTEMPTS && if_match.is_none() => {
                tracing::debug!(
                    aggregate = A::TYPE,
                    id,
                    attempt,
                    "sequence conflict; retrying"
                );
                tokio::time::sleep(Duration::from_millis(2u64 << attempt)).await;
            }
            Err(AggregateError::AggregateConflict) if if_match.is_some() => {
                return Err(Refused::StaleVersion {
                    current: current + 1,
                });
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The events `command` decided on `aggregate` produces.
pub async fn decide<A: Aggregate>(
    aggregate: &mut A,
    command: A::Command,
    services: &A::Services,
) -> Result<Vec<A::Event>, AggregateError<A::Error>> {
    let sink = EventSink::<A>::default();
    aggregate
        .handle(command, services, &sink)
        .await
        .map_err(AggregateError::UserError)?;
    Ok(sink.collect().await)
}
