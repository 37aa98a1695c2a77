//! What changed since an answer was computed, from the projectors' change
//! announcements ([`Changes`] on `CHANGED_CHANNEL`).
//!
//! Every announcement takes the next number of one counter; each projection
//! remembers the number of its last change of each kind (anything, a comic
//! deleted, a shared figure, everything) and of its last change to each
//! comic. An answer remembers the counter as it was *before* it was
//! computed, so a change that lands during the computation makes it out of
//! date at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use comics_common::projections::{Changes, ProjectionInfo, ALL, CHANGED_CHANNEL};
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use uuid::Uuid;

/// How an answer stands against what changed since it was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing it shows changed.
    Fresh,
    /// A collection whose members changed: it may be served a little longer
    /// (see [`super::ResponseCache`]) while it is recomputed.
    Stale,
    /// Must not be served: its own comic changed, a comic was deleted, or
    /// anything may have changed.
    Invalid,
}

/// One projection's last changes, as counter values.
#[derive(Default)]
struct Marks {
    any: AtomicU64,
    all: AtomicU64,
    deleted: AtomicU64,
    shared: AtomicU64,
    comics: RwLock<HashMap<Uuid, u64>>,
}

/// The change counters of every projection, fed by Postgres notifications.
pub struct Freshness {
    counter: AtomicU64,
    marks: Vec<(&'static str, Marks)>,
    listening: Vec<AtomicBool>,
}

impl Freshness {
    /// Counters that no listener feeds (tests feed them with [`Self::record`]).
    pub fn unfed() -> Self {
        Self {
            counter: AtomicU64::new(0),
            marks: ALL.iter().map(|p| (p.name, Marks::default())).collect(),
            listening: Vec::new(),
        }
    }

    /// Starts one listener per distinct pool (query stores may live in
    /// several databases).
    pub fn spawn(pools: Vec<PgPool>) -> Arc<Self> {
        let freshness = Arc::new(Self {
            listening: pools.iter().map(|_| AtomicBool::new(false)).collect(),
            ..Self::unfed()
        });
        for (i, pool) in pools.into_iter().enumerate() {
            tokio::spawn(listen(freshness.clone(), i, pool));
        }
        freshness
    }

    /// The counter now: what an answer computed from here on is stamped with.
    pub fn stamp(&self) -> u64 {
        self.counter.load(Ordering::SeqCst)
    }

    /// Whether every listener is connected (else nothing is known).
    pub fn usable(&self) -> bool {
        self.listening.iter().all(|l| l.load(Ordering::SeqCst))
    }

    /// Records `changes` of the projection `name` ("" for every projection).
    pub fn record(&self, name: &str, changes: &Changes) {
        let n = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
        for (_, marks) in self
            .marks
            .iter()
            .filter(|(p, _)| name.is_empty() || *p == name)
        {
            let flags = [
                (true, &marks.any),
                (changes.all, &marks.all),
                (changes.deleted, &marks.deleted),
                (changes.shared, &marks.shared),
            ];
            for (on, mark) in flags {
                if on {
                    mark.store(n, Ordering::SeqCst);
                }
            }
            if !changes.comics.is_empty() {
                let mut comics = marks.comics.write().unwrap_or_else(|e| e.into_inner());
                for id in &changes.comics {
                    comics.insert(*id, n);
                }
            }
        }
    }

    /// The last shared change of any of `deps`.
    pub fn last_shared(&self, deps: &[ProjectionInfo]) -> u64 {
        self.of(deps)
            .map(|m| m.shared.load(Ordering::SeqCst))
            .max()
            .unwrap_or(0)
    }

    /// Whether any of `deps` announced a comic's deletion (or that anything
    /// may have changed) since `stamp`.
    pub fn deleted_since(&self, deps: &[ProjectionInfo], stamp: u64) -> bool {
        self.of(deps).any(|m| {
            m.deleted.load(Ordering::SeqCst) > stamp || m.all.load(Ordering::SeqCst) > stamp
        })
    }

    /// How an answer computed at `stamp` from `deps` stands: about one comic
    /// (`scope`), or a collection (`None`).
    pub fn judge(&self, deps: &[ProjectionInfo], scope: Option<Uuid>, stamp: u64) -> Verdict {
        let after = |mark: &AtomicU64| mark.load(Ordering::SeqCst) > stamp;
        let mut verdict = Verdict::Fresh;
        for marks in self.of(deps) {
            if after(&marks.all) {
                return Verdict::Invalid;
            }
            match scope {
                Some(id) => {
                    let comics = marks.comics.read().unwrap_or_else(|e| e.into_inner());
                    if comics.get(&id).is_some_and(|n| *n > stamp) {
                        return Verdict::Invalid;
                    }
                }
                None if after(&marks.deleted) => return Verdict::Invalid,
                None if after(&marks.any) => verdict = Verdict::Stale,
                None => {}
            }
        }
        verdict
    }

    fn of<'a>(&'a self, deps: &'a [ProjectionInfo]) -> impl Iterator<Item = &'a Marks> + 'a {
        self.marks
            .iter()
            .filter(|(name, _)| deps.iter().any(|d| d.name == *name))
            .map(|(_, marks)| marks)
    }
}

async fn listen(freshness: Arc<Freshness>, slot: usize, pool: PgPool) {
    loop {
        match PgListener::connect_with(&pool).await {
            Ok(mut listener) => {
                if listener.listen(CHANGED_CHANNEL).await.is_ok() {
                    // Whatever happened while deaf is unknown: start over.
                    freshness.record("", &Changes::everything());
                    freshness.listening[slot].store(true, Ordering::SeqCst);
                    while let Ok(n) = listener.recv().await {
                        let (name, changes) = Changes::parse(n.payload());
                        freshness.record(name, &changes);
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "read cache cannot listen for projection changes"),
        }
        freshness.listening[slot].store(false, Ordering::SeqCst);
        freshness.record("", &Changes::everything());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use comics_common::projections::{CATALOG, RATINGS};

    fn about(comics: &[Uuid]) -> Changes {
        Changes {
            comics: comics.to_vec(),
            ..Changes::default()
        }
    }

    #[test]
    fn a_change_to_one_comic_leaves_the_others_fresh_and_collections_stale() {
        let f = Freshness::unfed();
        let (x, y) = (Uuid::now_v7(), Uuid::now_v7());
        let stamp = f.stamp();
        f.record("catalog", &about(&[x]));
        assert_eq!(f.judge(&[CATALOG], Some(x), stamp), Verdict::Invalid);
        assert_eq!(f.judge(&[CATALOG], Some(y), stamp), Verdict::Fresh);
        assert_eq!(f.judge(&[CATALOG], None, stamp), Verdict::Stale);
        assert_eq!(f.judge(&[RATINGS], None, stamp), Verdict::Fresh);
        assert_eq!(f.judge(&[CATALOG], Some(x), f.stamp()), Verdict::Fresh);
    }

    #[test]
    fn a_deletion_or_everything_invalidates_collections() {
        let f = Freshness::unfed();
        let stamp = f.stamp();
        let deleted = Changes {
            deleted: true,
            ..about(&[Uuid::now_v7()])
        };
        f.record("ratings", &deleted);
        assert_eq!(f.judge(&[CATALOG, RATINGS], None, stamp), Verdict::Invalid);
        assert!(f.deleted_since(&[RATINGS], stamp));
        assert!(!f.deleted_since(&[CATALOG], stamp));
        assert!(!f.deleted_since(&[RATINGS], f.stamp()));
        let stamp = f.stamp();
        f.record("", &Changes::everything());
        assert_eq!(
            f.judge(&[CATALOG], Some(Uuid::now_v7()), stamp),
            Verdict::Invalid
        );
        assert!(f.deleted_since(&[CATALOG], stamp));
    }
}
