//! Helpers of the pipeline tests (relay, crash, rebuild): raw events written
//! with SQL, the whole stream read back and checked, relays started, a seeded
//! generator, and bounded test bodies that always clean up. `catalog` drives
//! and compares the catalog projection.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use async_nats::jetstream;
use comics_eventlog::EventRecord;
use comics_nats::relay::{Relay, POSITION_HEADER, TX_ID_HEADER};
use comics_nats::Names;
use futures::FutureExt;
use serde_json::{json, Value};
use sqlx::{PgExecutor, PgPool};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{eventually, TestEnv};

pub mod catalog;

/// Runs `body` for at most `limit`, catching its panic, so the caller can
/// clean up before [`settle`] reports the outcome.
pub async fn bounded<T>(limit: Duration, body: impl Future<Output = T>) -> std::thread::Result<T> {
    AssertUnwindSafe(tokio::time::timeout(limit, body))
        .catch_unwind()
        .await
        .map(|r| r.unwrap_or_else(|_| panic!("test did not finish within {limit:?}")))
}

/// Re-raises the panic of a [`bounded`] body (after cleanup).
pub fn settle<T>(outcome: std::thread::Result<T>) -> T {
    outcome.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// A small seeded generator (xorshift); the seed is printed to replay a run.
pub struct Rng(u64);

impl Rng {
    pub fn seeded(name: &str) -> Self {
        let seed = std::env::var("TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| uuid::Uuid::now_v7().as_u128() as u64 | 1);
        eprintln!("{name}: TEST_SEED={seed}");
        Self(seed)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }

    pub fn millis(&mut self, max: u64) -> Duration {
        Duration::from_millis(self.below(max))
    }

    /// An independent generator for another task.
    pub fn fork(&mut self) -> Rng {
        Rng(self.below(u64::MAX) | 1)
    }
}

pub const TEST_TYPE: &str = "Test";

/// The `Nats-Msg-Id` the relay gives event `sequence` of Test aggregate `id`.
pub fn message_id(aggregate_id: &str, sequence: i64) -> String {
    format!("{TEST_TYPE}:{aggregate_id}:{sequence}")
}

/// Inserts one event of a Test aggregate as postgres-es would (tagged payload).
pub async fn insert_event<'e>(
    db: impl PgExecutor<'e>,
    aggregate_id: &str,
    sequence: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         VALUES ($1, $2, $3, 'TestHappened', '1.0', $4, $5)",
    )
    .bind(TEST_TYPE)
    .bind(aggregate_id)
    .bind(sequence)
    .bind(json!({"TestHappened": {"aggregate": aggregate_id, "n": sequence}}))
    .bind(json!({"actor": "tester", "request_id": message_id(aggregate_id, sequence)}))
    .execute(db)
    .await
    .map(|_| ())
}

/// One message of the stream, as read back.
#[derive(Debug)]
pub struct Streamed {
    pub sequence: u64,
    pub subject: String,
    pub msg_id: String,
    pub cursor: (i64, i64),
    pub record: EventRecord,
}

pub async fn stream_last(env: &TestEnv) -> u64 {
    let js = jetstream::new(env.nats().await);
    match js.get_stream(env.names().stream()).await {
        Ok(s) => s.get_info().await.expect("stream info").state.last_sequence,
        Err(_) => 0,
    }
}

/// Every message of the stream, from sequence 1 to the last.
pub async fn read_stream(env: &TestEnv) -> Vec<Streamed> {
    let js = jetstream::new(env.nats().await);
    let stream = js.get_stream(env.names().stream()).await.expect("stream");
    let last = stream.get_info().await.expect("info").state.last_sequence;
    let mut out = Vec::with_capacity(last as usize);
    for seq in 1..=last {
        let m = stream.get_raw_message(seq).await.expect("stream message");
        let header = |name: &str| {
            m.headers
                .get(name)
                .unwrap_or_else(|| panic!("message {seq} has no {name}"))
                .as_str()
                .to_string()
        };
        out.push(Streamed {
            sequence: m.sequence,
            subject: m.subject.to_string(),
            msg_id: header("Nats-Msg-Id"),
            cursor: (
                header(TX_ID_HEADER).parse().unwrap(),
                header(POSITION_HEADER).parse().unwrap(),
            ),
            record: serde_json::from_slice(&m.payload).expect("an event record"),
        });
    }
    out
}

/// Every committed event's message id and commit cursor, from the table.
pub async fn committed(pool: &PgPool) -> HashMap<String, (i64, i64)> {
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT aggregate_type || ':' || aggregate_id || ':' || sequence, \
                tx_id::text::bigint, position FROM events",
    )
    .fetch_all(pool)
    .await
    .expect("read events");
    rows.into_iter()
        .map(|(id, tx, pos)| (id, (tx, pos)))
        .collect()
}

/// The stream holds exactly the `expected` events (message id → commit
/// cursor in the table), each once, gap-free, in commit order, per aggregate
/// in sequence order, with relay subjects and audit-item bodies.
pub fn assert_exactly_once_in_order(
    stream: &[Streamed],
    expected: &HashMap<String, (i64, i64)>,
    names: &Names,
) {
    let mut seen = HashSet::new();
    let mut last_of: HashMap<String, i64> = HashMap::new();
    for (i, m) in stream.iter().enumerate() {
        let r = &m.record;
        let id = &m.msg_id;
        assert_eq!(m.sequence, i as u64 + 1, "stream sequences have a gap");
        assert!(seen.insert(id.clone()), "{id} is in the stream twice");
        let cursor = expected
            .get(id)
            .unwrap_or_else(|| panic!("{id} was never committed"));
        assert_eq!(
            &m.cursor, cursor,
            "{id}: cursor headers differ from the table"
        );
        assert_eq!(id, &r.message_id(), "Nats-Msg-Id and body disagree");
        assert_eq!(m.subject, names.subject(&r.aggregate_type, &r.aggregate_id));
        assert_eq!(
            r.position, cursor.1,
            "{id}: body position differs from the table"
        );
        if i > 0 {
            assert!(stream[i - 1].cursor < m.cursor, "{id} breaks commit order");
        }
        let aggregate = format!("{}:{}", r.aggregate_type, r.aggregate_id);
        let prev = last_of.insert(aggregate, r.sequence);
        assert!(
            prev.is_none_or(|p| p < r.sequence),
            "{id} out of aggregate order"
        );
        if r.aggregate_type == TEST_TYPE {
            assert_eq!(r.event_type, "TestHappened");
            assert_eq!(r.event_version, "1.0");
            assert_eq!(
                r.payload,
                json!({"aggregate": r.aggregate_id, "n": r.sequence})
            );
            assert_eq!(r.metadata["request_id"], json!(id));
        }
    }
    let missing: Vec<_> = expected
        .keys()
        .filter(|k| !seen.contains(*k))
        .take(5)
        .collect();
    assert!(missing.is_empty(), "missing from the stream: {missing:?}");
    assert_eq!(stream.len(), expected.len());
}

/// Starts a relay on its own NATS connection.
pub async fn spawn_relay(
    env: &TestEnv,
    pool: &PgPool,
) -> (CancellationToken, JoinHandle<anyhow::Result<()>>) {
    let token = CancellationToken::new();
    let relay = Relay::new(pool.clone(), env.nats().await, env.names());
    (token.clone(), tokio::spawn(relay.run(token)))
}

/// Stops a relay from [`spawn_relay`] and checks it ended cleanly.
pub async fn stop_relay(stop: CancellationToken, relay: JoinHandle<anyhow::Result<()>>) {
    stop.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(30), relay)
        .await
        .expect("relay stops");
    stopped.unwrap().expect("relay ends cleanly");
}

pub async fn event_count(pool: &PgPool) -> u64 {
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await
        .expect("count events");
    n as u64
}

/// Waits until the stream holds `n` messages.
pub async fn wait_stream_len(env: &TestEnv, n: u64, limit: Duration) {
    eventually(limit, || async {
        let last = stream_last(env).await;
        assert!(last <= n, "the stream holds {last} messages, more than {n}");
        (last == n).then_some(())
    })
    .await
}

/// A pool on the event store with room for many concurrent writers.
pub async fn writers_pool(env: &TestEnv) -> PgPool {
    comics_common::db::connect(&env.settings.database_url, 24)
        .await
        .expect("writers pool")
}

/// Commits `transactions` transactions of 1–3 events over writer `w`'s own
/// aggregates, pausing up to `pause_ms` between them, until `stop` (if any).
/// Returns the ids of the events committed.
pub async fn write_events(
    pool: PgPool,
    w: usize,
    transactions: usize,
    mut rng: Rng,
    pause_ms: u64,
    stop: Option<CancellationToken>,
) -> Vec<String> {
    let mut next = [1i64; 3];
    let mut ids = Vec::new();
    for _ in 0..transactions {
        if stop.as_ref().is_some_and(|s| s.is_cancelled()) {
            break;
        }
        let mut tx = pool.begin().await.expect("begin");
        for _ in 0..=rng.below(3) {
            let k = rng.below(3) as usize;
            let id = format!("w{w}-{k}");
            insert_event(&mut *tx, &id, next[k]).await.expect("insert");
            ids.push(message_id(&id, next[k]));
            next[k] += 1;
        }
        tx.commit().await.expect("commit");
        tokio::time::sleep(rng.millis(pause_ms)).await;
    }
    ids
}

/// Every table of `schema` but `checkpoint`, each as its rows in a fixed order.
pub async fn schema_snapshot(pool: &PgPool, schema: &str) -> BTreeMap<String, Value> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = $1 AND table_type = 'BASE TABLE' AND table_name <> 'checkpoint' \
         ORDER BY table_name",
    )
    .bind(schema)
    .fetch_all(pool)
    .await
    .unwrap();
    let mut out = BTreeMap::new();
    for table in tables {
        let rows: Value = sqlx::query_scalar(&format!(
            "SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY to_jsonb(t)::text), '[]'::jsonb) \
             FROM {schema}.{table} t"
        ))
        .fetch_one(pool)
        .await
        .unwrap();
        out.insert(table, rows);
    }
    out
}
