//! The relay (DESIGN.md invariants 1 and 3): every committed event reaches
//! the stream exactly once, in commit order, whatever the overlap of the
//! transactions that wrote them, and across relay restarts.

use std::collections::HashSet;
use std::time::Duration;

use crate::support::pipeline::{
    assert_exactly_once_in_order, bounded, committed, insert_event, message_id, read_stream,
    settle, spawn_relay, stop_relay, stream_last, wait_stream_len, write_events, writers_pool, Rng,
};
use crate::support::TestEnv;

const LIMIT: Duration = Duration::from_secs(120);
const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_of_overlapping_transactions_reach_the_stream_once_each_in_commit_order() {
    let env = TestEnv::new().await;
    let outcome = bounded(LIMIT, overlapping_transactions(&env)).await;
    env.cleanup().await;
    settle(outcome);
}

async fn overlapping_transactions(env: &TestEnv) {
    let mut rng = Rng::seeded("overlapping transactions");
    let pool = writers_pool(env).await;
    let (stop, relay) = spawn_relay(env, &pool).await;
    let mut written: HashSet<String> = HashSet::new();

    // Some history first, published while nothing else is open.
    written.extend(write_events(pool.clone(), 0, 30, rng.fork(), 0, None).await);
    wait_stream_len(env, written.len() as u64, WAIT).await;

    // Held open while many later transactions commit: an event with an early
    // position that becomes visible late.
    let mut held = pool.begin().await.unwrap();
    insert_event(&mut *held, "held", 1).await.unwrap();
    // Takes its transaction id early, without appending: it must not hold
    // the relay back, and so it may not append later (see `early` below).
    let mut early = pool.begin().await.unwrap();
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *early)
        .await
        .unwrap();
    // Rolled back: its event must never appear.
    let mut doomed = pool.begin().await.unwrap();
    insert_event(&mut *doomed, "doomed", 1).await.unwrap();

    let writers: Vec<_> = (1..=6)
        .map(|w| tokio::spawn(write_events(pool.clone(), w, 40, rng.fork(), 3, None)))
        .collect();
    tokio::time::sleep(Duration::from_millis(150)).await;
    // An event older (by transaction id) than events the relay may already
    // have published: refused, so it can never be skipped.
    let refused = insert_event(&mut *early, "early", 1).await;
    let refusal = refused.expect_err("appending after another write is refused");
    assert!(
        refusal.to_string().contains("before any other write"),
        "{refusal}"
    );
    early.rollback().await.unwrap();
    for w in writers {
        written.extend(w.await.unwrap());
    }
    // The relay has been polling all along; let it see the open transaction.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let later = tokio::spawn(write_events(pool.clone(), 7, 40, rng.fork(), 1, None));
    held.commit().await.unwrap();
    written.insert(message_id("held", 1));
    doomed.rollback().await.unwrap();
    written.extend(later.await.unwrap());

    wait_stream_len(env, written.len() as u64, WAIT).await;
    tokio::time::sleep(Duration::from_millis(300)).await; // anything extra?
    let table = committed(&pool).await;
    let in_table: HashSet<String> = table.keys().cloned().collect();
    assert_eq!(in_table, written, "the table holds what was committed");
    let stream = read_stream(env).await;
    assert_exactly_once_in_order(&stream, &table, &env.names());
    assert!(!stream.iter().any(|m| m.msg_id == message_id("doomed", 1)));
    assert!(!stream.iter().any(|m| m.msg_id == message_id("early", 1)));

    stop_relay(stop, relay).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_relay_continues_exactly_where_the_stream_ends() {
    let env = TestEnv::new().await;
    let outcome = bounded(LIMIT, restart(&env)).await;
    env.cleanup().await;
    settle(outcome);
}

async fn restart(env: &TestEnv) {
    let mut rng = Rng::seeded("restart");
    let pool = writers_pool(env).await;
    let (stop, relay) = spawn_relay(env, &pool).await;
    let first = write_events(pool.clone(), 0, 80, rng.fork(), 0, None).await;
    wait_stream_len(env, first.len() as u64, WAIT).await;
    stop_relay(stop, relay).await;
    let before = read_stream(env).await;

    // Written while no relay runs: nothing moves.
    let mut all: HashSet<String> = first.into_iter().collect();
    all.extend(write_events(pool.clone(), 1, 40, rng.fork(), 0, None).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(stream_last(env).await, before.len() as u64);

    // Written while the new relay starts.
    let (stop, relay) = spawn_relay(env, &pool).await;
    all.extend(write_events(pool.clone(), 2, 40, rng.fork(), 2, None).await);
    wait_stream_len(env, all.len() as u64, WAIT).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = read_stream(env).await;
    assert_exactly_once_in_order(&after, &committed(&pool).await, &env.names());
    for (old, new) in before.iter().zip(&after) {
        assert_eq!(old.msg_id, new.msg_id, "the published prefix changed");
    }
    stop_relay(stop, relay).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transaction_writing_no_events_does_not_hold_the_relay_back() {
    let env = TestEnv::new().await;
    let outcome = bounded(LIMIT, unrelated_transaction(&env)).await;
    env.cleanup().await;
    settle(outcome);
}

async fn unrelated_transaction(env: &TestEnv) {
    let rng = Rng::seeded("unrelated transaction");
    let pool = writers_pool(env).await;
    let (stop, relay) = spawn_relay(env, &pool).await;
    // Open, holding a transaction id (as a projector's batch or a long
    // report would), for the whole test.
    let mut other = pool.begin().await.unwrap();
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *other)
        .await
        .unwrap();
    let written = write_events(pool.clone(), 0, 20, rng, 0, None).await;
    // Under the snapshot xmin these would wait for `other` to end.
    wait_stream_len(env, written.len() as u64, WAIT).await;
    let stream = read_stream(env).await;
    assert_exactly_once_in_order(&stream, &committed(&pool).await, &env.names());
    other.rollback().await.unwrap();
    stop_relay(stop, relay).await;
}

/// The relay's wake-up: an append NOTIFYs only while the relay sleeps (holds
/// the "asleep" lock); otherwise it holds that lock shared until it ends, so
/// the relay cannot fall asleep past it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn appends_notify_exactly_while_the_relay_sleeps() {
    let env = TestEnv::new().await;
    let outcome = bounded(LIMIT, wake_up(&env)).await;
    env.cleanup().await;
    settle(outcome);
}

async fn wake_up(env: &TestEnv) {
    const ASLEEP: &str = "SELECT pg_try_advisory_lock(hashtextextended('comics-relay-asleep', 0))";
    let pool = writers_pool(env).await;
    let mut listener = sqlx::postgres::PgListener::connect_with(&pool)
        .await
        .unwrap();
    listener.listen("comics_events").await.unwrap();

    // Awake (nobody holds the lock): no NOTIFY, and the open append holds the
    // lock shared, so a relay could not take it to fall asleep.
    let mut tx = pool.begin().await.unwrap();
    insert_event(&mut *tx, "awake", 1).await.unwrap();
    let mut relay = pool.acquire().await.unwrap();
    let got: bool = sqlx::query_scalar(ASLEEP)
        .fetch_one(&mut *relay)
        .await
        .unwrap();
    assert!(!got, "an append in flight keeps the relay awake");
    tx.commit().await.unwrap();
    let quiet = tokio::time::timeout(Duration::from_millis(300), listener.recv()).await;
    assert!(quiet.is_err(), "no NOTIFY while the relay is awake");

    // Asleep (the relay holds the lock): the append wakes it.
    let got: bool = sqlx::query_scalar(ASLEEP)
        .fetch_one(&mut *relay)
        .await
        .unwrap();
    assert!(got, "with no append in flight the relay can fall asleep");
    insert_event(&pool, "asleep", 1).await.unwrap();
    let woken = tokio::time::timeout(WAIT, listener.recv()).await;
    assert!(
        woken.is_ok_and(|n| n.is_ok_and(|n| n.channel() == "comics_events")),
        "an append NOTIFYs a sleeping relay"
    );
}

/// A `nats-server` of the test's own on a free loopback port, with its store
/// in a folder of its own (removed on drop), so it can be killed and started
/// again on the same port and store.
struct OwnNats {
    port: u16,
    dir: std::path::PathBuf,
    process: Option<std::process::Child>,
}

impl OwnNats {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let dir = std::env::temp_dir().join(format!(
            "comics-relay-outage-{}",
            uuid::Uuid::now_v7().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut nats = Self {
            port,
            dir,
            process: None,
        };
        nats.start_again();
        nats
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn start_again(&mut self) {
        let process = std::process::Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js"])
            .arg("-sd")
            .arg(&self.dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nats-server (see README, Prerequisites)");
        self.process = Some(process);
    }

    /// `kill -9`.
    fn kill(&mut self) {
        if let Some(mut p) = self.process.take() {
            let _ = p.kill();
            let _ = p.wait();
        }
    }

    async fn wait_reachable(&self) {
        crate::support::eventually(Duration::from_secs(10), || async {
            tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .ok()
                .map(|_| ())
        })
        .await;
    }
}

impl Drop for OwnNats {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// NATS killed with -9 while events keep being committed, more than the
/// relay keeps in flight: once NATS is back, the relay (never restarted)
/// reconnects by itself and publishes the backlog after what the stream
/// held, each event once, in commit order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_a_nats_outage_the_relay_drains_the_backlog_once_each_in_commit_order() {
    let mut nats = OwnNats::start();
    nats.wait_reachable().await;
    let mut env = TestEnv::new().await;
    env.settings.nats_url = nats.url();
    let outcome = bounded(LIMIT, outage(&env, &mut nats)).await;
    env.cleanup().await;
    drop(nats);
    settle(outcome);
}

async fn outage(env: &TestEnv, nats: &mut OwnNats) {
    let mut rng = Rng::seeded("nats outage");
    let pool = writers_pool(env).await;
    let (stop, relay) = spawn_relay(env, &pool).await;
    let before = write_events(pool.clone(), 0, 40, rng.fork(), 2, None).await;
    wait_stream_len(env, before.len() as u64, WAIT).await;

    nats.kill();
    // Concurrent writers while NATS is away, several thousand events in all
    // (more than the relay's batches in flight), committed in interleaved
    // transactions.
    let writers: Vec<_> = (1..=4)
        .map(|w| tokio::spawn(write_events(pool.clone(), w, 400, rng.fork(), 0, None)))
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         SELECT 'Test', 'bulk', n, 'TestHappened', '1.0', \
                json_build_object('TestHappened', json_build_object('aggregate', 'bulk', 'n', n)), \
                json_build_object('actor', 'tester', 'request_id', 'Test:bulk:' || n) \
         FROM generate_series(1, 4000) AS n",
    )
    .execute(&pool)
    .await
    .unwrap();
    let expected = committed(&pool).await;
    assert!(expected.len() > 5000);
    nats.start_again();
    nats.wait_reachable().await;
    wait_stream_len(env, expected.len() as u64, Duration::from_secs(60)).await;
    assert_exactly_once_in_order(&read_stream(env).await, &expected, &env.names());
    stop_relay(stop, relay).await;
}
