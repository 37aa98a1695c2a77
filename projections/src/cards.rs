//! The comic cards a projection shows beside its own data (id, title,
//! cover, status, type), kept from Comic events. Shared by the projections
//! whose reads list comics (ratings, bookmarks).

use std::collections::BTreeMap;

use anyhow::Context;
use comics_domain::aggregate_types::COMIC;
use comics_domain::comic::ComicChanges;
use comics_domain::ComicEvent;
use comics_eventlog::EventRecord;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::Projector;

/// Applies `events` in order, folding each run of `ComicUpdated` events
/// into one change per comic ([`Updates`]): the card projections' batches
/// without one statement per renamed comic and event.
pub(crate) async fn apply_all<P: Projector + ?Sized>(
    projector: &P,
    db: &mut PgConnection,
    s: &str,
    events: &[&EventRecord],
) -> anyhow::Result<()> {
    let mut updates = Updates::default();
    for event in events {
        if updates.take(event)? {
            continue;
        }
        updates.flush(db, s).await?;
        projector.apply(db, s, event).await.with_context(|| {
            format!(
                "{} cannot apply {}",
                projector.info().name,
                event.message_id()
            )
        })?;
    }
    updates.flush(db, s).await
}

/// `ComicUpdated` events being folded, by comic ([`ComicChanges::then`]).
/// A change to a card leaves every other row of a projection alone, so a
/// projection may fold other events (ratings) across it; what creates or
/// deletes a card must not be, so it ends the run.
#[derive(Debug, Default)]
pub(crate) struct Updates(BTreeMap<Uuid, ComicChanges>);

impl Updates {
    /// Takes `event` into the run if it is a `ComicUpdated`; says whether
    /// it did.
    pub(crate) fn take(&mut self, event: &EventRecord) -> anyhow::Result<bool> {
        match updated(event)? {
            Some((id, changes)) => {
                let folded = match self.0.remove(&id) {
                    Some(earlier) => earlier.then(changes),
                    None => changes,
                };
                self.0.insert(id, folded);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Applies the run to the cards (one statement) and starts a new one.
    pub(crate) async fn flush(&mut self, db: &mut PgConnection, s: &str) -> anyhow::Result<()> {
        let (mut ids, mut titles, mut statuses, mut types) = (vec![], vec![], vec![], vec![]);
        for (id, c) in std::mem::take(&mut self.0) {
            if c.title.is_none() && c.status.is_none() && c.comic_type.is_none() {
                continue;
            }
            ids.push(id);
            titles.push(c.title.map(|t| t.as_str().to_string()));
            statuses.push(c.status.map(|v| v.as_str()));
            types.push(c.comic_type.map(|v| v.as_str()));
        }
        if ids.is_empty() {
            return Ok(());
        }
        sqlx::query(&format!(
            "UPDATE {s}.comics c SET title = COALESCE(d.title, c.title), \
               status = COALESCE(d.status, c.status), type = COALESCE(d.type, c.type) \
             FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) AS d(id, title, status, type) \
             WHERE c.id = d.id"
        ))
        .bind(&ids)
        .bind(&titles)
        .bind(&statuses)
        .bind(&types)
        .execute(&mut *db)
        .await?;
        Ok(())
    }
}

/// The comic and its changes, if `event` is a `ComicUpdated`.
pub(crate) fn updated(event: &EventRecord) -> anyhow::Result<Option<(Uuid, ComicChanges)>> {
    if event.aggregate_type != COMIC || event.event_type != "ComicUpdated" {
        return Ok(None);
    }
    let read = || format!("cannot read {}", event.message_id());
    let id: Uuid = event.aggregate_id.parse().with_context(read)?;
    match serde_json::from_value(event.tagged_payload()).with_context(read)? {
        ComicEvent::ComicUpdated { changes } => Ok(Some((id, changes))),
        _ => Ok(None),
    }
}

/// Applies a Comic event to the cards; when it deletes the comic, its rows
/// in each of `own_tables` (keyed by `comic_id`) go too. Returns the comic's
/// id if it was deleted, for what a projection must undo beyond that.
pub(crate) async fn comic_event(
    db: &mut PgConnection,
    s: &str,
    event: &EventRecord,
    own_tables: &[&str],
) -> anyhow::Result<Option<Uuid>> {
    let id: Uuid = event.aggregate_id.parse().context("comic id")?;
    let e: ComicEvent = serde_json::from_value(event.tagged_payload())?;
    let deleted = matches!(e, ComicEvent::ComicDeleted {});
    if deleted {
        for table in own_tables {
            sqlx::query(&format!("DELETE FROM {s}.{table} WHERE comic_id = $1"))
                .bind(id)
                .execute(&mut *db)
                .await?;
        }
    }
    apply(db, s, id, e).await?;
    Ok(deleted.then_some(id))
}

/// Where a comic's cover is read (`GET /comics/{id}/cover`).
pub(crate) fn cover_url(id: Uuid) -> String {
    format!("/api/v1/comics/{id}/cover")
}

pub(crate) async fn apply(
    db: &mut PgConnection,
    s: &str,
    id: Uuid,
    e: ComicEvent,
) -> anyhow::Result<()> {
    match e {
        ComicEvent::ComicCreated { details, .. } => {
            sqlx::query(&format!(
                "INSERT INTO {s}.comics (id, title, status, type) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING"
            ))
            .bind(id)
            .bind(details.title.as_str())
            .bind(details.status.as_str())
            .bind(details.comic_type.as_str())
            .execute(&mut *db)
            .await?;
        }
        ComicEvent::ComicUpdated { changes } => {
            sqlx::query(&format!(
                "UPDATE {s}.comics SET title = COALESCE($2, title), status = COALESCE($3, status), \
                 type = COALESCE($4, type) WHERE id = $1"
            ))
            .bind(id)
            .bind(changes.title.as_ref().map(|t| t.as_str()))
            .bind(changes.status.map(|v| v.as_str()))
            .bind(changes.comic_type.map(|v| v.as_str()))
            .execute(&mut *db)
            .await?;
        }
        ComicEvent::ComicDeleted {} => {
            sqlx::query(&format!("DELETE FROM {s}.comics WHERE id = $1"))
                .bind(id)
                .execute(&mut *db)
                .await?;
        }
        ComicEvent::CoverSet { .. } | ComicEvent::CoverRemoved {} => {
            let url = matches!(e, ComicEvent::CoverSet { .. }).then(|| cover_url(id));
            sqlx::query(&format!(
                "UPDATE {s}.comics SET cover_url = $2 WHERE id = $1"
            ))
            .bind(id)
            .bind(url)
            .execute(&mut *db)
            .await?;
        }
        ComicEvent::ChapterNumberClaimed { .. } | ComicEvent::ChapterNumberReleased { .. } => {}
    }
    Ok(())
}
