//! Folding a run of rating events into scores, per-comic statistics and
//! the global totals, a few statements per run.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use comics_domain::RatingEvent;
use sqlx::PgConnection;
use uuid::Uuid;

/// A rating event as the statistics see it: a score moving from `old` to `new`.
pub(super) struct Scored {
    comic_id: Uuid,
    user: String,
    new: Option<u8>,
    old: Option<u8>,
    at: DateTime<Utc>,
}

impl Scored {
    pub(super) fn of(e: RatingEvent, at: DateTime<Utc>) -> Self {
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
pub(super) async fn fold(db: &mut PgConnection, s: &str, run: Vec<Scored>) -> anyhow::Result<()> {
    if run.is_empty() {
        return Ok(());
    }
    let live = live_comics(db, s, &run).await?;
    let (last, deltas) = summarize(&run, &live);
    if deltas.is_empty() {
        return Ok(());
    }
    write_scores(db, s, last).await?;
    write_stats(db, s, &deltas).await
}

/// The run's comics the catalog still has: ratings of a deleted comic are
/// not counted.
async fn live_comics(
    db: &mut PgConnection,
    s: &str,
    run: &[Scored],
) -> anyhow::Result<HashSet<Uuid>> {
    let mut ids: Vec<Uuid> = run.iter().map(|r| r.comic_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let live: Vec<Uuid> =
        sqlx::query_scalar(&format!("SELECT id FROM {s}.comics WHERE id = ANY($1)"))
            .bind(&ids)
            .fetch_all(&mut *db)
            .await?;
    Ok(live.into_iter().collect())
}

/// Each user's last word on each comic: a score and when, or removed.
type Last<'a> = HashMap<(Uuid, &'a str), (Option<u8>, DateTime<Utc>)>;

/// Folds the run (of live comics) into each user's last word and each
/// comic's statistics delta.
fn summarize<'a>(run: &'a [Scored], live: &HashSet<Uuid>) -> (Last<'a>, BTreeMap<Uuid, Delta>) {
    let mut last = Last::new();
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
    (last, deltas)
}

/// Stores each user's last score, or removes it: one upsert and one delete.
async fn write_scores(db: &mut PgConnection, s: &str, last: Last<'_>) -> anyhow::Result<()> {
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
    Ok(())
}

/// Moves each comic's statistics by its delta, drops the comics left
/// without a vote, and moves the global totals.
async fn write_stats(
    db: &mut PgConnection,
    s: &str,
    deltas: &BTreeMap<Uuid, Delta>,
) -> anyhow::Result<()> {
    let (mut ids, mut votes, mut sums, mut dists) = (vec![], vec![], vec![], vec![]);
    for (comic_id, d) in deltas {
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
