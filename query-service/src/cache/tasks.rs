//! The cache's background tasks: keeping the global prior of the Bayesian
//! average current, and logging the counters.

use std::sync::Weak;
use std::time::Duration;

use sqlx::PgPool;

use super::entry::Prior;
use super::{CacheStats, ResponseCache};
use comics_common::projections::RATINGS;

/// Keeps the cache's prior: read at start and again, at most every half max
/// age, after a rating changed it; forgotten when it cannot be read.
pub(super) async fn keep_prior(cache: Weak<ResponseCache>, ratings: PgPool) {
    loop {
        let Some(cache) = cache.upgrade() else { return };
        let known = *cache.prior.read().unwrap_or_else(|e| e.into_inner());
        let due = match known {
            None => true,
            Some((stamp, _)) => cache.freshness.last_shared(&[RATINGS]) > stamp,
        };
        if due {
            let stamp = cache.freshness.stamp();
            let read = read_prior(&ratings).await;
            if let Err(e) = &read {
                tracing::warn!(error = %e, "cannot read the ratings' global mean for the read cache");
            }
            *cache.prior.write().unwrap_or_else(|e| e.into_inner()) =
                read.ok().map(|prior| (stamp, prior));
        }
        let pause = cache.max_age / 2;
        drop(cache);
        tokio::time::sleep(pause).await;
    }
}

/// Logs the counters every 10 s while they move (`/metrics` has them as
/// they happen).
pub(super) async fn report(cache: Weak<ResponseCache>) {
    let mut last = CacheStats::default();
    loop {
        tokio::time::sleep(Duration::from_secs(10)).await;
        let Some(cache) = cache.upgrade() else { return };
        let now = cache.stats();
        if (now.hits, now.misses) != (last.hits, last.misses) {
            tracing::info!(
                hits = now.hits - last.hits,
                misses = now.misses - last.misses,
                stale = now.stale - last.stale,
                recomputes = now.recomputes - last.recomputes,
                entries = now.entries,
                bytes = now.bytes,
                "read cache, last 10 s"
            );
        }
        last = now;
    }
}

async fn read_prior(ratings: &PgPool) -> Result<Prior, sqlx::Error> {
    let (m, a): (f64, f64) = sqlx::query_as(
        "SELECT coalesce(max(votes::float8 / NULLIF(rated_comics, 0)), 0), \
                coalesce(max(score_sum::float8 / NULLIF(votes, 0)), 0) \
         FROM ratings.totals",
    )
    .fetch_one(ratings)
    .await?;
    Ok(Prior { m, a })
}
