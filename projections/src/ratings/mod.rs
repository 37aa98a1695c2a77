//! The ratings projection: scores, per-comic statistics and global totals,
//! kept incrementally and exactly (each event carries the previous score).

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::Context;
use async_trait::async_trait;
use comics_common::projections::{Changes, ProjectionInfo, RATINGS};
use comics_domain::aggregate_types::{COMIC, RATING};
use comics_domain::RatingEvent;
use comics_nats::EventRecord;
use sqlx::PgConnection;
use uuid::Uuid;

pub struct RatingsProjector;

#[async_trait]
impl crate::Projector for RatingsProjector {
    fn info(&self) -> ProjectionInfo {
        RATINGS
    }

    /// A rating, or a rated comic's deletion, moves the global mean and vote
    /// count, so the Bayesian average every comic shows: a shared change.
    async fn changes(
        &self,
        _db: &mut PgConnection,
        _schema: &str,
        events: &[&EventRecord],
    ) -> anyhow::Result<Changes> {
        let mut changes = crate::changes::named_by(events);
        // A deleted comic's votes leave the global totals too.
        changes.shared = changes.deleted
            || events
                .iter()
                .any(|e| e.aggregate_type == comics_domain::aggregate_types::RATING);
        Ok(changes)
    }

    fn schema_sql(&self) -> &'static str {
        include_str!("schema.sql")
    }

    async fn apply(
        &self,
        db: &mut PgConnection,
        s: &str,
        event: &EventRecord,
    ) -> anyhow::Result<()> {
        match event.aggregate_type.as_str() {
            COMIC => {
                if let Some(id) = crate::cards::comic_event(db, s, event, &[]).await? {
                    forget_comic(db, s, id).await?;
                }
                Ok(())
            }
            RATING => {
                let e: RatingEvent = serde_json::from_value(event.tagged_payload())?;
                fold(db, s, vec![Scored::of(e, event.recorded_at)]).await
            }
            _ => Ok(()),
        }
    }

    /// Runs of rating events are folded: a few statements per run rather
    /// than five per event. Comic events apply one by one, between runs, so
    /// a deletion still falls exactly where it happened.
    async fn apply_all(
        &self,
        db: &mut PgConnection,
        s: &str,
        events: &[&EventRecord],
    ) -> anyhow::Result<()> {
        let mut run: Vec<Scored> = Vec::new();
        for event in events {
            if event.aggregate_type == RATING {
                let e: RatingEvent = serde_json::from_value(event.tagged_payload())
                    .with_context(|| format!("cannot read {}", event.message_id()))?;
                run.push(Scored::of(e, event.recorded_at));
                continue;
            }
            fold(db, s, std::mem::take(&mut run)).await?;
            self.apply(db, s, event)
                .await
                .with_context(|| format!("ratings cannot apply {}", event.message_id()))?;
        }
        fold(db, s, run).await
    }
}

/// A rating event as the statistics see it: a score moving from `old` to `new`.
struct Scored {
    comic_id: Uuid,
    user: String,
    new: Option<u8>,
    old: Option<u8>,
    at: chrono::DateTime<chrono::Utc>,
}

impl Scored {
    fn of(e: RatingEvent, at: chrono::DateTime<chrono::Utc>) -> Self {
        let (comic_id, user, new, old) = match e {
            RatingEvent::RatingGiven {
                comic_id,
                user,
                score,
            } => (comic_id, user, Some(score.value()), None),
            RatingEvent::RatingChanged {
                comic_id,
                user,
                score,
                previous,
            } => (comic_id, user, Some(score.value()), Some(previous.value())),
            RatingEvent::RatingRemoved {
                comic_id,
                user,
                previous,
            } => (comic_id, user, None, Some(previous.value())),
        };
        Self {
            comic_id,
            user,
            new,
            old,
            at,
        }
    }
}

/// One comic's statistics moved by a run of rating events.
#[derive(Default)]
struct Delta {
    votes: i32,
    sum: i64,
    dist: [i32; 10],
}

/// Applies a run of rating events (no comic event among them) with one
/// statement per kind of change: exactly what applying them one by one
/// gives, since each event carries the score it replaces.
async fn fold(db: &mut PgConnection, s: &str, run: Vec<Scored>) -> anyhow::Result<()> {
    if run.is_empty() {
        return Ok(());
    }
    let comics: Vec<Uuid> = {
        let mut ids: Vec<Uuid> = run.iter().map(|r| r.comic_id).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    // Ratings of a comic the catalog no longer has are not counted.
    let live: Vec<Uuid> =
        sqlx::query_scalar(&format!("SELECT id FROM {s}.comics WHERE id = ANY($1)"))
            .bind(&comics)
            .fetch_all(&mut *db)
            .await?;
    let live: HashSet<Uuid> = live.into_iter().collect();
    // Each user's last word on each comic: a score and when, or removed.
    type Last = (Option<u8>, chrono::DateTime<chrono::Utc>);
    let mut last: HashMap<(Uuid, &str), Last> = HashMap::new();
    let mut deltas: BTreeMap<Uuid, Delta> = BTreeMap::new();
    for r in run.iter().filter(|r| live.contains(&r.comic_id)) {
        last.insert((r.comic_id, r.user.as_str()), (r.new, r.at));
        let d = deltas.entry(r.comic_id).or_default();
        d.votes += i32::from(r.new.is_some()) - i32::from(r.old.is_some());
        d.sum += i64::from(r.new.unwrap_or(0)) - i64::from(r.old.unwrap_or(0));
        if let Some(n) = r.new {
            d.dist[usize::from(n) - 1] += 1;
        }
        if let Some(o) = r.old {
            d.dist[usize::from(o) - 1] -= 1;
        }
    }
    if deltas.is_empty() {
        return Ok(());
    }
    let (mut up_comics, mut up_users, mut up_scores, mut up_at) = (vec![], vec![], vec![], vec![]);
    let (mut gone_comics, mut gone_users) = (vec![], vec![]);
    for ((comic_id, user), (score, at)) in last {
        match score {
            Some(score) => {
                up_comics.push(comic_id);
                up_users.push(user);
                up_scores.push(i16::from(score));
                up_at.push(at);
            }
            None => {
                gone_comics.push(comic_id);
                gone_users.push(user);
            }
        }
    }
    if !up_comics.is_empty() {
        sqlx::query(&format!(
            "INSERT INTO {s}.ratings (comic_id, user_id, score, rated_at) \
             SELECT * FROM unnest($1::uuid[], $2::text[], $3::smallint[], $4::timestamptz[]) \
             ON CONFLICT (comic_id, user_id) DO UPDATE SET score = EXCLUDED.score, rated_at = EXCLUDED.rated_at"
        ))
        .bind(&up_comics)
        .bind(&up_users)
        .bind(&up_scores)
        .bind(&up_at)
        .execute(&mut *db)
        .await?;
    }
    if !gone_comics.is_empty() {
        sqlx::query(&format!(
            "DELETE FROM {s}.ratings r USING unnest($1::uuid[], $2::text[]) AS g(comic_id, user_id) \
             WHERE r.comic_id = g.comic_id AND r.user_id = g.user_id"
        ))
        .bind(&gone_comics)
        .bind(&gone_users)
        .execute(&mut *db)
        .await?;
    }
    let (mut ids, mut votes, mut sums, mut dists) = (vec![], vec![], vec![], vec![]);
    for (comic_id, d) in &deltas {
        ids.push(*comic_id);
        votes.push(d.votes);
        sums.push(d.sum);
        let dist: Vec<String> = d.dist.iter().map(i32::to_string).collect();
        dists.push(format!("{{{}}}", dist.join(",")));
    }
    // `prior` reads the statistics as they were before `up` (one snapshot
    // for the whole statement): how many comics became rated or unrated.
    let rated: i64 = sqlx::query_scalar(&format!(
        "WITH d AS (SELECT * FROM unnest($1::uuid[], $2::int[], $3::bigint[], $4::text[]) \
                    AS d(comic_id, votes, score_sum, dist)), \
              prior AS (SELECT comic_id, votes FROM {s}.stats WHERE comic_id = ANY($1)), \
              up AS (INSERT INTO {s}.stats AS st (comic_id, votes, score_sum, distribution) \
                     SELECT comic_id, votes, score_sum, dist::int[] FROM d \
                     ON CONFLICT (comic_id) DO UPDATE SET votes = st.votes + EXCLUDED.votes, \
                        score_sum = st.score_sum + EXCLUDED.score_sum, \
                        distribution = ARRAY(SELECT a + b FROM unnest(st.distribution, EXCLUDED.distribution) AS t(a, b)) \
                     RETURNING comic_id, votes) \
         SELECT COALESCE(sum((up.votes > 0)::int - (COALESCE(prior.votes, 0) > 0)::int), 0)::bigint \
         FROM up LEFT JOIN prior USING (comic_id)"
    ))
    .bind(&ids)
    .bind(&votes)
    .bind(&sums)
    .bind(&dists)
    .fetch_one(&mut *db)
    .await?;
    sqlx::query(&format!(
        "DELETE FROM {s}.stats WHERE comic_id = ANY($1) AND votes <= 0"
    ))
    .bind(&ids)
    .execute(&mut *db)
    .await?;
    let all_votes: i64 = votes.iter().map(|v| i64::from(*v)).sum();
    let all_sum: i64 = sums.iter().sum();
    sqlx::query(&format!(
        "UPDATE {s}.totals SET votes = votes + $1, score_sum = score_sum + $2, rated_comics = rated_comics + $3"
    ))
    .bind(all_votes)
    .bind(all_sum)
    .bind(rated)
    .execute(&mut *db)
    .await?;
    Ok(())
}

/// A deleted comic's ratings leave every read and the totals.
async fn forget_comic(db: &mut PgConnection, s: &str, comic_id: Uuid) -> anyhow::Result<()> {
    let stats: Option<(i32, i64)> = sqlx::query_as(&format!(
        "DELETE FROM {s}.stats WHERE comic_id = $1 RETURNING votes, score_sum"
    ))
    .bind(comic_id)
    .fetch_optional(&mut *db)
    .await?;
    if let Some((votes, sum)) = stats {
        sqlx::query(&format!(
            "UPDATE {s}.totals SET votes = votes - $1, score_sum = score_sum - $2, rated_comics = rated_comics - 1"
        ))
        .bind(i64::from(votes))
        .bind(sum)
        .execute(&mut *db)
        .await?;
    }
    sqlx::query(&format!("DELETE FROM {s}.ratings WHERE comic_id = $1"))
        .bind(comic_id)
        .execute(&mut *db)
        .await?;
    Ok(())
}
