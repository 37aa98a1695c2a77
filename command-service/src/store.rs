//! The cached event store: one aggregate type's events in Postgres, with an
//! in-memory copy of each aggregate it loaded, loaded one or many at a time
//! and appended one or many at a time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use cqrs_es::persist::{
    EventStoreAggregateContext, PersistedEventRepository, PersistedEventStore, SerializedEvent,
};
use cqrs_es::{Aggregate, AggregateError, DomainEvent, EventEnvelope, EventStore};
use postgres_es::PostgresEventRepository;
use sqlx::{PgExecutor, PgPool};

/// How many aggregates of one type a process keeps in memory.
const CACHED: usize = 50_000;

/// An aggregate's event store with an in-memory copy of the aggregates it
/// loaded: loading reads only the events after the copy's sequence, so a
/// long-lived aggregate (a comic edited for years, a hot comic's views) costs
/// what changed since, not its whole history. The event store stays the
/// only truth: a copy is always a committed state, used without catching up
/// only where an append after it would conflict if it were stale (the group
/// committer, see `group_commit.rs`), and a copy that is missing or evicted is
/// rebuilt from the events.
pub struct Store<A: Aggregate> {
    events: PersistedEventStore<PostgresEventRepository, A>,
    repo: PostgresEventRepository,
    pool: PgPool,
    cache: Mutex<HashMap<String, (A, usize)>>,
    /// Statements that read this type's events ([`Store::reads`]).
    reads: AtomicU64,
}

impl<A: Aggregate + Clone> Store<A> {
    pub fn new(pool: &PgPool) -> Self {
        Self {
            events: PersistedEventStore::new_event_store(PostgresEventRepository::new(
                pool.clone(),
            )),
            repo: PostgresEventRepository::new(pool.clone()),
            pool: pool.clone(),
            cache: Mutex::new(HashMap::new()),
            reads: AtomicU64::new(0),
        }
    }

    /// How many statements have read this type's events so far (a load
    /// of one aggregate or of several is one each): what tests count.
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// The in-memory copy of `id`, as of some committed sequence: current
    /// unless another process appended since (an append after it then
    /// conflicts, which is how a stale copy shows).
    pub fn cached(&self, id: &str) -> Option<(A, usize)> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.get(id).cloned()
    }

    fn keep(&self, id: &str, aggregate: A, sequence: usize) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHED && !cache.contains_key(id) {
            // Evict about half, in no particular order: cheap, and a copy
            // is only ever a head start.
            let mut n = 0usize;
            cache.retain(|_, _| {
                n += 1;
                n.is_multiple_of(2)
            });
        }
        match cache.get(id) {
            Some((_, have)) if *have >= sequence => {}
            _ => {
                cache.insert(id.to_string(), (aggregate, sequence));
            }
        }
    }

    /// The aggregate as of its last committed event.
    pub async fn load_aggregate(
        &self,
        id: &str,
    ) -> Result<EventStoreAggregateContext<A>, AggregateError<A::Error>> {
        let (mut aggregate, mut sequence) = self.cached(id).unwrap_or_default();
        self.reads.fetch_add(1, Ordering::Relaxed);
        let newer = self.repo.get_last_events::<A>(id, sequence).await?;
        let caught_up = !newer.is_empty();
        for serialized in newer {
            let envelope: EventEnvelope<A> = serialized.try_into()?;
            sequence = envelope.sequence;
            aggregate.apply(envelope.payload);
        }
        if caught_up {
            self.keep(id, aggregate.clone(), sequence);
        }
        Ok(EventStoreAggregateContext {
            aggregate_id: id.to_string(),
            aggregate,
            current_sequence: sequence,
            current_snapshot: None,
        })
    }

    /// The current state of aggregate `id` and its version.
    pub async fn load(&self, id: &str) -> Result<(A, i64), AggregateError<A::Error>> {
        let context = self.load_aggregate(id).await?;
        Ok((context.aggregate, context.current_sequence as i64))
    }

    /// The pool of the event store.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Loads several aggregates with one query on `db`, in the order of
    /// `ids`: each in-memory copy is caught up from the events after its
    /// sequence, and an aggregate not in memory is read whole, in the same
    /// statement. Like [`Store::load_aggregate`], the result is as of the
    /// store, whoever appended.
    pub async fn load_many(
        &self,
        db: impl PgExecutor<'_>,
        ids: &[&str],
    ) -> Result<Vec<EventStoreAggregateContext<A>>, AggregateError<A::Error>> {
        let mut loaded: Vec<(A, usize)> = ids
            .iter()
            .map(|id| self.cached(id).unwrap_or_default())
            .collect();
        let after: Vec<i64> = loaded.iter().map(|(_, seq)| *seq as i64).collect();
        self.reads.fetch_add(1, Ordering::Relaxed);
        let rows = events_after::<A>(db, ids, &after).await?;
        let mut moved = vec![false; ids.len()];
        for row in rows {
            let i = (row.i - 1) as usize;
            let serialized = SerializedEvent::new(
                ids[i].to_string(),
                row.sequence as usize,
                A::TYPE.to_string(),
                row.event_type,
                row.event_version,
                row.payload,
                row.metadata,
            );
            let envelope: EventEnvelope<A> = serialized.try_into()?;
            loaded[i].1 = envelope.sequence;
            loaded[i].0.apply(envelope.payload);
            moved[i] = true;
        }
        Ok(ids
            .iter()
            .zip(loaded)
            .zip(moved)
            .map(|((id, (aggregate, sequence)), moved)| {
                if moved {
                    self.keep(id, aggregate.clone(), sequence);
                }
                EventStoreAggregateContext {
                    aggregate_id: id.to_string(),
                    aggregate,
                    current_sequence: sequence,
                    current_snapshot: None,
                }
            })
            .collect())
    }

    /// Appends the events of several aggregates in one statement on `db`:
    /// all or none, a conflict if another writer appended to any of them
    /// first. `db` may be in a transaction (whose first write this must
    /// be); hand the result to [`Store::keep_all`] once committed.
    pub async fn append_many_in(
        &self,
        db: &mut sqlx::PgConnection,
        appends: Vec<Append<A>>,
    ) -> Result<Vec<Appended<A>>, AggregateError<A::Error>> {
        let mut cols = AppendColumns::default();
        let mut after = Vec::with_capacity(appends.len());
        for (context, events, metadata) in appends {
            let metadata = serde_json::to_value(&metadata)?;
            let mut aggregate = context.aggregate;
            let mut sequence = context.current_sequence;
            for event in events {
                sequence += 1;
                cols.ids.push(context.aggregate_id.clone());
                cols.sequences.push(sequence as i64);
                cols.types.push(event.event_type());
                cols.versions.push(event.event_version());
                cols.payloads.push(serde_json::to_value(&event)?);
                cols.metadata.push(metadata.clone());
                aggregate.apply(event);
            }
            after.push((context.aggregate_id, aggregate, sequence));
        }
        let inserted = sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
             SELECT $1, * FROM unnest($2::text[], $3::bigint[], $4::text[], $5::text[], $6::json[], $7::json[])",
        )
        .bind(A::TYPE)
        .bind(&cols.ids)
        .bind(&cols.sequences)
        .bind(&cols.types)
        .bind(&cols.versions)
        .bind(&cols.payloads)
        .bind(&cols.metadata)
        .execute(&mut *db)
        .await;
        match inserted {
            Ok(_) => Ok(after),
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23505") => {
                Err(AggregateError::AggregateConflict)
            }
            Err(e) => Err(database_error(e)),
        }
    }

    /// Remembers aggregates as committed.
    pub fn keep_all(&self, appended: Vec<Appended<A>>) {
        for (id, aggregate, sequence) in appended {
            self.keep(&id, aggregate, sequence);
        }
    }

    /// Appends `events` after `context`'s sequence (a conflict if another
    /// writer got there first).
    pub async fn commit(
        &self,
        events: Vec<A::Event>,
        context: EventStoreAggregateContext<A>,
        metadata: HashMap<String, String>,
    ) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>> {
        let id = context.aggregate_id.clone();
        let mut after = context.aggregate.clone();
        let committed = self.events.commit(events, context, metadata).await?;
        if let Some(last) = committed.last().map(|e| e.sequence) {
            for envelope in &committed {
                after.apply(envelope.payload.clone());
            }
            self.keep(&id, after, last);
        }
        Ok(committed)
    }
}

/// A database error as a command's: 503 when the database is unavailable,
/// 500 when the statement itself failed.
pub fn database_error<E: std::error::Error>(e: sqlx::Error) -> AggregateError<E> {
    if comics_common::db::is_unavailable(&e) {
        AggregateError::DatabaseConnectionError(Box::new(e))
    } else {
        AggregateError::UnexpectedError(Box::new(e))
    }
}

/// What one command appends: after which state, which events, with what metadata.
pub type Append<A> = (
    EventStoreAggregateContext<A>,
    Vec<<A as Aggregate>::Event>,
    HashMap<String, String>,
);

/// An aggregate after an append: its id, state and sequence.
pub type Appended<A> = (String, A, usize);

/// The events of aggregates `ids` of type `A`, each after its sequence in
/// `after`, in one statement: by position in `ids` (from 1), then sequence.
async fn events_after<A: Aggregate>(
    db: impl PgExecutor<'_>,
    ids: &[&str],
    after: &[i64],
) -> Result<Vec<EventRow>, AggregateError<A::Error>> {
    sqlx::query_as(
        // LATERAL: one index lookup per aggregate, whatever the generic
        // plan would guess of the arrays' length (a join may scan every
        // event of the type).
        "SELECT w.i, e.sequence, e.event_type, e.event_version, e.payload, e.metadata \
         FROM unnest($2::text[], $3::bigint[]) WITH ORDINALITY AS w(id, after, i) \
         CROSS JOIN LATERAL ( \
             SELECT sequence, event_type, event_version, payload, metadata FROM events \
             WHERE aggregate_type = $1 AND aggregate_id = w.id AND sequence > w.after \
             ORDER BY sequence) e \
         ORDER BY w.i, e.sequence",
    )
    .bind(A::TYPE)
    .bind(ids)
    .bind(after)
    .fetch_all(db)
    .await
    .map_err(database_error)
}

#[derive(sqlx::FromRow)]
struct EventRow {
    i: i64,
    sequence: i64,
    event_type: String,
    event_version: String,
    payload: serde_json::Value,
    metadata: serde_json::Value,
}

#[derive(Default)]
struct AppendColumns {
    ids: Vec<String>,
    sequences: Vec<i64>,
    types: Vec<String>,
    versions: Vec<String>,
    payloads: Vec<serde_json::Value>,
    metadata: Vec<serde_json::Value>,
}
