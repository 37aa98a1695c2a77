//! Executing a command against one aggregate: load from the event store,
//! decide, append; a concurrent append (a sequence conflict) is retried a
//! bounded number of times, then reported. Unlike `CqrsFramework::execute`
//! this returns the new version, which the API answers with.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use comics_domain::{Chapter, Comic, Library, Popularity, Rating};
use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{Aggregate, AggregateError, EventStore};
use postgres_es::PostgresEventRepository;
use sqlx::PgPool;

use crate::services::{ChapterFacts, ComicFacts};

pub type Store<A> = PersistedEventStore<PostgresEventRepository, A>;

const ATTEMPTS: u32 = 5;

/// The event stores and the services each aggregate decides with.
pub struct Stores {
    pub comics: Store<Comic>,
    pub chapters: Store<Chapter>,
    pub ratings: Store<Rating>,
    pub libraries: Store<Library>,
    pub popularity: Store<Popularity>,
    pub comic_services: <Comic as Aggregate>::Services,
    pub chapter_services: <Chapter as Aggregate>::Services,
    pub rating_services: <Rating as Aggregate>::Services,
    pub library_services: <Library as Aggregate>::Services,
}

fn store<A: Aggregate>(pool: &PgPool) -> Store<A> {
    PersistedEventStore::new_event_store(PostgresEventRepository::new(pool.clone()))
}

impl Stores {
    pub fn new(pool: PgPool) -> Self {
        Self {
            comics: store(&pool),
            chapters: store(&pool),
            ratings: store(&pool),
            libraries: store(&pool),
            popularity: store(&pool),
            comic_services: Arc::new(ChapterFacts(store(&pool))),
            chapter_services: Arc::new(ComicFacts(store(&pool))),
            rating_services: Arc::new(ComicFacts(store(&pool))),
            library_services: Arc::new(ComicFacts(store(&pool))),
        }
    }
}

/// The result of a command: the aggregate's version after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    pub version: i64,
    /// Whether the command produced any event.
    pub changed: bool,
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

/// Loads the current state of an aggregate and its version.
pub async fn load<A: Aggregate>(
    store: &Store<A>,
    id: &str,
) -> Result<(A, i64), AggregateError<A::Error>> {
    let context = store.load_aggregate(id).await?;
    Ok((context.aggregate, context.current_sequence as i64))
}

pub async fn execute<A: Aggregate>(
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
        let sink = EventSink::<A>::default();
        context
            .aggregate
            .handle(command.clone(), services, &sink)
            .await
            .map_err(AggregateError::UserError)?;
        let events = sink.collect().await;
        if events.is_empty() {
            return Ok(Committed {
                version: current,
                changed: false,
            });
        }
        let count = events.len() as i64;
        match store.commit(events, context, metadata.clone()).await {
            Ok(_) => {
                return Ok(Committed {
                    version: current + count,
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
