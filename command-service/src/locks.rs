//! Commands that touch a comic and its chapters together (a chapter's number
//! is registered on its comic) run one at a time per comic, across every
//! process: a transaction-scoped Postgres advisory lock, released when the
//! returned guard is dropped, also on error or crash.
//!
//! Within one process, the commands waiting for a comic queue in order on
//! an in-memory turn first, so only the head of the queue asks Postgres,
//! and the turn passes on only once Postgres has released the lock: the
//! next command's first try takes it (before the queue, waiters polled with
//! pauses of up to 20 ms, and four uploads to one chapter waited more than
//! they worked).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::{PgPool, Postgres, Transaction};
use tokio::sync::OwnedMutexGuard;
use uuid::Uuid;

/// How long a command waits for another command on the same comic.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// The comics that have a command holding or waiting for their lock in this
/// process, each with the queue of its turns.
#[derive(Clone)]
pub struct ComicLocks {
    pool: PgPool,
    queues: Arc<Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>>,
}

/// A comic's lock; dropping it releases the Postgres lock, then the turn.
pub struct ComicLock {
    held: Option<(Transaction<'static, Postgres>, OwnedMutexGuard<()>)>,
    /// How many times Postgres was asked (1 unless another process held it).
    #[cfg_attr(not(test), allow(dead_code))]
    tries: u32,
    comic_id: Uuid,
    locks: ComicLocks,
}

impl ComicLocks {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            queues: Arc::default(),
        }
    }

    /// Takes the comic's lock: its turn in this process, then the Postgres
    /// lock. A waiter does not hold a pooled connection while it waits (the
    /// head polls `pg_try_advisory_xact_lock` while another process holds
    /// it), so many commands queued on one comic cannot starve the holder
    /// of the connections it needs.
    pub async fn lock(&self, comic_id: Uuid) -> sqlx::Result<ComicLock> {
        let deadline = tokio::time::Instant::now() + LOCK_WAIT;
        let queue = self.queue(comic_id);
        let held = async {
            let turn = tokio::time::timeout_at(deadline, queue.clone().lock_owned())
                .await
                .map_err(|_| sqlx::Error::PoolTimedOut)?;
            let (tx, tries) = try_until(&self.pool, comic_id, deadline).await?;
            Ok::<_, sqlx::Error>((tx, turn, tries))
        }
        .await;
        drop(queue);
        match held {
            Ok((tx, turn, tries)) => Ok(ComicLock {
                held: Some((tx, turn)),
                tries,
                comic_id,
                locks: self.clone(),
            }),
            Err(e) => {
                self.forget_if_idle(comic_id);
                Err(e)
            }
        }
    }

    fn queue(&self, comic_id: Uuid) -> Arc<tokio::sync::Mutex<()>> {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        queues.entry(comic_id).or_default().clone()
    }

    /// Drops the comic's queue once nothing holds or waits for it.
    fn forget_if_idle(&self, comic_id: Uuid) {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        if queues
            .get(&comic_id)
            .is_some_and(|queue| Arc::strong_count(queue) == 1)
        {
            queues.remove(&comic_id);
        }
    }

    #[cfg(test)]
    fn queued(&self) -> usize {
        self.queues.lock().unwrap().len()
    }
}

/// Polls the Postgres lock until `deadline`; answers it and the tries.
async fn try_until(
    pool: &PgPool,
    comic_id: Uuid,
    deadline: tokio::time::Instant,
) -> sqlx::Result<(Transaction<'static, Postgres>, u32)> {
    let mut pause = Duration::from_millis(1);
    let mut tries = 0;
    loop {
        tries += 1;
        let mut tx = pool.begin().await?;
        let locked: bool = sqlx::query_scalar(
            "SELECT pg_try_advisory_xact_lock(hashtextextended('comic:' || $1::text, 0))",
        )
        .bind(comic_id)
        .fetch_one(&mut *tx)
        .await?;
        if locked {
            return Ok((tx, tries));
        }
        tx.rollback().await?;
        if tokio::time::Instant::now() >= deadline {
            return Err(sqlx::Error::PoolTimedOut);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

impl Drop for ComicLock {
    fn drop(&mut self) {
        let locks = self.locks.clone();
        let comic_id = self.comic_id;
        let Some((tx, turn)) = self.held.take() else {
            locks.forget_if_idle(comic_id);
            return;
        };
        // The rollback is sent before the turn passes on; should the
        // runtime be gone, dropping the transaction still releases the lock
        // when its connection is next used or closed.
        let release = async move {
            if let Err(e) = tx.rollback().await {
                tracing::warn!(error = %e, %comic_id, "releasing a comic's lock failed");
            }
            drop(turn);
            locks.forget_if_idle(comic_id);
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(release);
            }
            Err(_) => drop(release),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use super::*;

    const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

    async fn locks() -> ComicLocks {
        ComicLocks::new(
            PgPool::connect(POSTGRES)
                .await
                .expect("Postgres on 127.0.0.1:5432"),
        )
    }

    async fn until_forgotten(locks: &ComicLocks) {
        for _ in 0..200 {
            if locks.queued() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("{} comic queues are left behind", locks.queued());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn commands_on_one_comic_take_turns_each_at_its_first_try() {
        let locks = locks().await;
        let comic = Uuid::now_v7();
        let inside = Arc::new(AtomicBool::new(false));
        let turns = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (locks, inside, turns) = (locks.clone(), inside.clone(), turns.clone());
                tokio::spawn(async move {
                    let lock = locks.lock(comic).await.unwrap();
                    assert!(!inside.swap(true, Ordering::SeqCst), "two holders at once");
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    inside.store(false, Ordering::SeqCst);
                    turns.fetch_add(1, Ordering::SeqCst);
                    lock.tries
                })
            })
            .collect();
        for task in tasks {
            // The turn passes on only after Postgres released the lock.
            assert_eq!(task.await.unwrap(), 1);
        }
        assert_eq!(turns.load(Ordering::SeqCst), 8);
        until_forgotten(&locks).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lock_another_process_holds_is_waited_for() {
        let locks = locks().await;
        let comic = Uuid::now_v7();
        // Another process: its own connection holding the same advisory lock.
        let mut other = PgPool::connect(POSTGRES)
            .await
            .unwrap()
            .begin()
            .await
            .unwrap();
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('comic:' || $1::text, 0))")
            .bind(comic)
            .execute(&mut *other)
            .await
            .unwrap();
        let waiter = tokio::spawn({
            let locks = locks.clone();
            async move { locks.lock(comic).await.map(|lock| lock.tries) }
        });
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(
            !waiter.is_finished(),
            "the lock was taken while held elsewhere"
        );
        other.commit().await.unwrap();
        assert!(waiter.await.unwrap().unwrap() > 1);
        until_forgotten(&locks).await;
    }
}
