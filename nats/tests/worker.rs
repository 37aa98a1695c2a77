//! The rules of `comics_nats::worker`, tested once on a consumer of a
//! throwaway stream whose position lives in memory (the relay, the view
//! recorder and the projectors have their own crash tests on top).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, consumer::PullConsumer, stream};
use async_trait::async_trait;
use comics_nats::worker::ordered::{self, Batching, Delivered, OrderedConsumer};
use comics_nats::worker::Leadership;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

const NATS_URL: &str = "nats://127.0.0.1:4222";
const DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A stream of its own, and a store of committed sequences shared by every
/// instance of the test consumer.
struct Fixture {
    js: jetstream::Context,
    stream: String,
    committed: Arc<Mutex<Vec<u64>>>,
}

impl Fixture {
    async fn new() -> Self {
        let client = async_nats::connect(NATS_URL).await.expect("NATS is up");
        let js = jetstream::new(client);
        let stream = format!("WORKER_TEST_{}", uuid::Uuid::now_v7().simple());
        js.create_stream(stream::Config {
            name: stream.clone(),
            subjects: vec![format!("{stream}.>")],
            ..Default::default()
        })
        .await
        .expect("create stream");
        Self {
            js,
            stream,
            committed: Arc::default(),
        }
    }

    async fn publish(&self, n: usize) {
        for i in 0..n {
            self.js
                .publish(format!("{}.m", self.stream), i.to_string().into())
                .await
                .expect("publish")
                .await
                .expect("ack");
        }
    }

    fn consumer(&self) -> TestConsumer {
        TestConsumer {
            js: Some(self.js.clone()),
            stream: self.stream.clone(),
            committed: self.committed.clone(),
            ..Default::default()
        }
    }

    fn committed(&self) -> Vec<u64> {
        self.committed.lock().unwrap().clone()
    }

    async fn wait_for(&self, n: usize) {
        for _ in 0..400 {
            if self.committed.lock().unwrap().len() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("only {:?} committed, waiting for {n}", self.committed());
    }

    async fn cleanup(self) {
        let _ = self.js.delete_stream(&self.stream).await;
    }
}

#[derive(Default)]
struct TestConsumer {
    js: Option<jetstream::Context>,
    stream: String,
    committed: Arc<Mutex<Vec<u64>>>,
    /// Commits that fail before storing anything, counted down.
    failures: Arc<AtomicUsize>,
    /// Consumers created that start one message too late, counted down.
    skips: Arc<AtomicUsize>,
    consumers_created: Arc<AtomicUsize>,
    leadership: Option<Leadership>,
    /// Commits in progress (across instances) and the most seen at once.
    inside: Arc<AtomicUsize>,
    most_inside: Arc<AtomicUsize>,
}

fn count_down(n: &AtomicUsize) -> bool {
    n.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

#[async_trait]
impl OrderedConsumer for TestConsumer {
    type Session = ();

    fn name(&self) -> String {
        "test consumer".into()
    }

    fn batching(&self) -> Batching {
        Batching {
            max: 4,
            linger: Duration::from_millis(5),
            may_start_later: false,
            idle_after: None,
        }
    }

    fn leadership(&self) -> Option<Leadership> {
        self.leadership.clone()
    }

    async fn resume(&self) -> anyhow::Result<(u64, ())> {
        let position = self.committed.lock().unwrap().last().copied();
        Ok((position.unwrap_or(0), ()))
    }

    async fn consumer(&self, start: u64) -> anyhow::Result<PullConsumer> {
        self.consumers_created.fetch_add(1, Ordering::SeqCst);
        let start_sequence = if count_down(&self.skips) {
            start + 1
        } else {
            start
        };
        let js = self.js.as_ref().expect("js");
        let stream = js.get_stream(&self.stream).await?;
        let _ = stream.delete_consumer("test").await;
        Ok(stream
            .create_consumer(pull::Config {
                durable_name: Some("test".into()),
                deliver_policy: jetstream::consumer::DeliverPolicy::ByStartSequence {
                    start_sequence,
                },
                ack_policy: jetstream::consumer::AckPolicy::All,
                ..Default::default()
            })
            .await?)
    }

    async fn commit(
        &self,
        _: &mut (),
        batch: &[Delivered<'_>],
        _: &CancellationToken,
    ) -> anyhow::Result<()> {
        let now = self.inside.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_inside.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(2)).await;
        self.inside.fetch_sub(1, Ordering::SeqCst);
        anyhow::ensure!(
            !count_down(&self.failures),
            "a commit that fails (as the test asked)"
        );
        let mut committed = self.committed.lock().unwrap();
        committed.extend(batch.iter().map(|d| d.seq));
        Ok(())
    }
}

type Running = (CancellationToken, tokio::task::JoinHandle<()>);

fn spawn(consumer: TestConsumer) -> Running {
    let token = CancellationToken::new();
    let t = token.clone();
    let handle = tokio::spawn(async move { ordered::run(&consumer, &t).await });
    (token, handle)
}

async fn stop((token, handle): Running) {
    token.cancel();
    tokio::time::timeout(Duration::from_secs(10), handle)
        .await
        .expect("stops on shutdown")
        .expect("does not panic");
}

fn one_to(n: u64) -> Vec<u64> {
    (1..=n).collect()
}

#[tokio::test]
async fn resumes_just_after_the_stored_position() {
    let f = Fixture::new().await;
    f.publish(10).await;
    let run = spawn(f.consumer());
    f.wait_for(10).await;
    stop(run).await;
    f.publish(5).await;
    let run = spawn(f.consumer());
    f.wait_for(15).await;
    stop(run).await;
    assert_eq!(f.committed(), one_to(15), "each once, in order");
    f.cleanup().await;
}

#[tokio::test]
async fn a_failed_commit_is_retried_from_the_stored_position() {
    let f = Fixture::new().await;
    let consumer = f.consumer();
    consumer.failures.store(2, Ordering::SeqCst);
    let consumers = consumer.consumers_created.clone();
    f.publish(12).await;
    let run = spawn(consumer);
    f.wait_for(12).await;
    stop(run).await;
    assert_eq!(f.committed(), one_to(12), "nothing lost, nothing twice");
    assert_eq!(
        consumers.load(Ordering::SeqCst),
        3,
        "one attempt per failure, and the last"
    );
    f.cleanup().await;
}

#[tokio::test]
async fn a_delivery_out_of_turn_starts_over_instead_of_skipping() {
    let f = Fixture::new().await;
    let consumer = f.consumer();
    consumer.skips.store(1, Ordering::SeqCst);
    let consumers = consumer.consumers_created.clone();
    f.publish(6).await;
    let run = spawn(consumer);
    f.wait_for(6).await;
    stop(run).await;
    assert_eq!(f.committed(), one_to(6), "message 1 was not skipped");
    assert_eq!(consumers.load(Ordering::SeqCst), 2);
    f.cleanup().await;
}

#[tokio::test]
async fn with_a_leadership_one_instance_runs_and_another_takes_over() {
    let f = Fixture::new().await;
    let pool = PgPool::connect(DATABASE_URL).await.expect("Postgres is up");
    let leadership = Leadership {
        pool,
        key: format!("worker-test:{}", f.stream),
    };
    let (mut a, mut b) = (f.consumer(), f.consumer());
    a.leadership = Some(leadership.clone());
    b.leadership = Some(leadership);
    b.inside = a.inside.clone();
    b.most_inside = a.most_inside.clone();
    let most_inside = a.most_inside.clone();
    let b_consumers = b.consumers_created.clone();
    let first = spawn(a);
    f.publish(20).await;
    f.wait_for(20).await;
    let second = spawn(b);
    f.publish(20).await;
    f.wait_for(40).await;
    assert_eq!(
        b_consumers.load(Ordering::SeqCst),
        0,
        "the second waits for the lead"
    );
    stop(first).await;
    f.publish(20).await;
    f.wait_for(60).await;
    stop(second).await;
    assert_eq!(
        f.committed(),
        one_to(60),
        "the second resumed where the first stopped"
    );
    assert_eq!(most_inside.load(Ordering::SeqCst), 1, "never two at once");
    assert!(
        b_consumers.load(Ordering::SeqCst) >= 1,
        "the second took over"
    );
    f.cleanup().await;
}
