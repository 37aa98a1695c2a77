//! What a comic document shows from the Rating, Library and Popularity
//! aggregates — votes and their sum, all-time views, bookmarks — kept on the
//! comic's row, and the global vote totals behind the Bayesian average.
//!
//! Runs of these events are folded into one change per comic and applied
//! with one statement; each event carries what it replaces (a rating its
//! previous score, a bookmark event happens only on a change), so folding
//! gives exactly what applying them one by one gives. Events about a comic
//! the catalog no longer has change nothing, as in the ratings projection,
//! so both show the same averages.

use std::collections::BTreeMap;

use anyhow::Context;
use comics_domain::aggregate_types::{LIBRARY, POPULARITY, RATING};
use comics_domain::{LibraryEvent, PopularityEvent, RatingEvent};
use comics_eventlog::EventRecord;
use sqlx::PgConnection;
use uuid::Uuid;

/// Whether events of `aggregate_type` are folded here.
pub(super) fn folds(aggregate_type: &str) -> bool {
    [RATING, LIBRARY, POPULARITY].contains(&aggregate_type)
}

/// One comic's figures moved by a run of events.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Delta {
    votes: i32,
    score_sum: i64,
    views: i64,
    bookmarks: i32,
}

/// A run of events being folded, by comic.
#[derive(Debug, Default)]
pub(super) struct Run(BTreeMap<Uuid, Delta>);

impl Run {
    /// Adds one Rating, Library or Popularity event to the run.
    pub(super) fn add(&mut self, event: &EventRecord) -> anyhow::Result<()> {
        let payload = event.tagged_payload();
        let read = || format!("cannot read {}", event.message_id());
        let (comic, delta) = match event.aggregate_type.as_str() {
            RATING => rating(serde_json::from_value(payload).with_context(read)?),
            LIBRARY => bookmark(serde_json::from_value(payload).with_context(read)?),
            _ => views(serde_json::from_value(payload).with_context(read)?),
        };
        let d = self.0.entry(comic).or_default();
        d.votes += delta.votes;
        d.score_sum += delta.score_sum;
        d.views += delta.views;
        d.bookmarks += delta.bookmarks;
        Ok(())
    }

    /// Applies the run (with one statement) and starts a new one.
    pub(super) async fn flush(&mut self, db: &mut PgConnection, s: &str) -> anyhow::Result<()> {
        let run = std::mem::take(&mut self.0);
        if run.is_empty() {
            return Ok(());
        }
        let (mut ids, mut votes, mut sums, mut views, mut marks) =
            (vec![], vec![], vec![], vec![], vec![]);
        for (id, d) in run {
            ids.push(id);
            votes.push(d.votes);
            sums.push(d.score_sum);
            views.push(d.views);
            marks.push(d.bookmarks);
        }
        // `up` returns each live comic's votes after and the change: the
        // comics that became rated or unrated move `rated_comics`.
        sqlx::query(&format!(
            "WITH d AS (SELECT * FROM unnest($1::uuid[], $2::int[], $3::bigint[], $4::bigint[], $5::int[]) \
                        AS d(id, votes, score_sum, views, bookmarks)), \
                  up AS (UPDATE {s}.comics c SET votes = c.votes + d.votes, \
                            score_sum = c.score_sum + d.score_sum, views = c.views + d.views, \
                            bookmarks = c.bookmarks + d.bookmarks \
                         FROM d WHERE c.id = d.id \
                         RETURNING c.votes AS now, d.votes AS delta, d.score_sum AS sum) \
             UPDATE {s}.rating_totals SET \
                votes = votes + (SELECT coalesce(sum(delta), 0) FROM up), \
                score_sum = score_sum + (SELECT coalesce(sum(sum), 0) FROM up), \
                rated_comics = rated_comics + \
                    (SELECT coalesce(sum((now > 0)::int - (now - delta > 0)::int), 0) FROM up)"
        ))
        .bind(&ids)
        .bind(&votes)
        .bind(&sums)
        .bind(&views)
        .bind(&marks)
        .execute(&mut *db)
        .await?;
        Ok(())
    }
}

fn rating(e: RatingEvent) -> (Uuid, Delta) {
    let (comic, new, old) = match e {
        RatingEvent::RatingGiven {
            comic_id, score, ..
        } => (comic_id, Some(score), None),
        RatingEvent::RatingChanged {
            comic_id,
            score,
            previous,
            ..
        } => (comic_id, Some(score), Some(previous)),
        RatingEvent::RatingRemoved {
            comic_id, previous, ..
        } => (comic_id, None, Some(previous)),
    };
    let value = |s: Option<comics_domain::values::Score>| s.map_or(0, |s| i64::from(s.value()));
    let delta = Delta {
        votes: i32::from(new.is_some()) - i32::from(old.is_some()),
        score_sum: value(new) - value(old),
        ..Delta::default()
    };
    (comic, delta)
}

fn bookmark(e: LibraryEvent) -> (Uuid, Delta) {
    let (comic, bookmarks) = match e {
        LibraryEvent::ComicBookmarked { comic_id, .. } => (comic_id, 1),
        LibraryEvent::ComicUnbookmarked { comic_id, .. } => (comic_id, -1),
    };
    let delta = Delta {
        bookmarks,
        ..Delta::default()
    };
    (comic, delta)
}

fn views(e: PopularityEvent) -> (Uuid, Delta) {
    let PopularityEvent::ViewsRecorded {
        comic_id, count, ..
    } = e;
    let delta = Delta {
        views: count as i64,
        ..Delta::default()
    };
    (comic_id, delta)
}

/// Before a comic's row goes: its votes leave the global totals.
pub(super) async fn forget(db: &mut PgConnection, s: &str, comic: Uuid) -> anyhow::Result<()> {
    sqlx::query(&format!(
        "UPDATE {s}.rating_totals t SET votes = t.votes - c.votes, \
            score_sum = t.score_sum - c.score_sum, rated_comics = t.rated_comics - (c.votes > 0)::int \
         FROM (SELECT votes, score_sum FROM {s}.comics WHERE id = $1) c"
    ))
    .bind(comic)
    .execute(&mut *db)
    .await?;
    Ok(())
}
