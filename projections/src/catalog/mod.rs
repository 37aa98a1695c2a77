//! The catalog projection: comics (with their covers), chapters (with their
//! pages' metadata) and genre counts, as the comic,
//! chapter and genre reads need them (chapter counts, latest chapter, search
//! text), with what each comic document shows from the other aggregates
//! (votes, views, bookmarks: [`engagement`]) so that a document or a list
//! card is one read, and the counts behind list totals ([`counts`]). Every
//! value comes from the events, never from the clock, so a rebuild
//! reproduces the live result exactly.

mod chapters;
mod comics;
pub mod counts;
mod engagement;
mod pages;

use std::collections::BTreeMap;

use anyhow::Context;
use async_trait::async_trait;
use comics_common::projections::{Changes, ProjectionInfo, CATALOG};
use comics_domain::aggregate_types::{CHAPTER, COMIC, PAGE, RATING};
use comics_domain::comic::ComicChanges;
use comics_domain::{ChapterEvent, ComicEvent, PageEvent};
use comics_eventlog::EventRecord;
use sqlx::PgConnection;
use uuid::Uuid;

pub struct CatalogProjector;

#[async_trait]
impl super::Projector for CatalogProjector {
    fn info(&self) -> ProjectionInfo {
        CATALOG
    }

    fn schema_sql(&self) -> &'static str {
        include_str!("schema.sql")
    }

    async fn apply(
        &self,
        db: &mut PgConnection,
        schema: &str,
        event: &EventRecord,
    ) -> anyhow::Result<()> {
        let id: Uuid = event
            .aggregate_id
            .parse()
            .context("aggregate id is not a UUID")?;
        let at = Stamp {
            id,
            version: event.sequence,
            at: event.recorded_at,
        };
        match event.aggregate_type.as_str() {
            COMIC => {
                let e: ComicEvent = serde_json::from_value(event.tagged_payload())?;
                comic_event(db, schema, &at, e).await
            }
            CHAPTER => {
                let e: ChapterEvent = serde_json::from_value(event.tagged_payload())?;
                chapters::apply(db, schema, &at, e).await
            }
            PAGE => {
                let e: PageEvent = serde_json::from_value(event.tagged_payload())?;
                pages::apply(db, schema, &at, e).await
            }
            kind if engagement::folds(kind) => {
                let mut run = engagement::Run::default();
                run.add(event)?;
                run.flush(db, schema).await
            }
            _ => Ok(()),
        }
    }

    /// Runs of Rating, Library and Popularity events are folded into one
    /// statement ([`engagement`]), and runs of comic changes into one change
    /// per comic ([`Updates`]); a change touches none of the engagement
    /// figures, so it does not end a run of them. The other Comic, Chapter
    /// and Page events apply one by one between runs, so a creation or a
    /// deletion falls exactly where it happened.
    async fn apply_all(
        &self,
        db: &mut PgConnection,
        schema: &str,
        events: &[&EventRecord],
    ) -> anyhow::Result<()> {
        let mut run = engagement::Run::default();
        let mut updates = Updates::default();
        for event in events {
            if engagement::folds(&event.aggregate_type) {
                run.add(event)?;
                continue;
            }
            if updates.take(event)? {
                continue;
            }
            run.flush(db, schema).await?;
            updates.flush(db, schema).await?;
            self.apply(db, schema, event)
                .await
                .with_context(|| format!("catalog cannot apply {}", event.message_id()))?;
        }
        run.flush(db, schema).await?;
        updates.flush(db, schema).await
    }

    /// A chapter's change shows on its comic (chapter count, latest chapter,
    /// the list, its neighbours' prev/next), but only `ChapterDeleted` names
    /// the comic: the others are looked up in the chapters just written.
    async fn changes(
        &self,
        db: &mut PgConnection,
        schema: &str,
        events: &[&EventRecord],
    ) -> anyhow::Result<Changes> {
        let mut changes = crate::changes::named_by(events);
        // A rating, or a rated comic's deletion, moves the global mean.
        changes.shared = changes.deleted || events.iter().any(|e| e.aggregate_type == RATING);
        let unnamed: Vec<Uuid> = events
            .iter()
            .filter(|e| e.aggregate_type == CHAPTER && crate::changes::comic_named_by(e).is_none())
            .filter_map(|e| e.aggregate_id.parse().ok())
            .collect();
        if !unnamed.is_empty() {
            let comics: Vec<Uuid> = sqlx::query_scalar(&format!(
                "SELECT DISTINCT comic_id FROM {schema}.chapters WHERE id = ANY($1)"
            ))
            .bind(&unnamed)
            .fetch_all(&mut *db)
            .await?;
            changes.comics.extend(comics);
            changes.comics.sort_unstable();
            changes.comics.dedup();
        }
        Ok(changes)
    }
}

/// Applies a Comic event to the comic's row, and moves the counts when it
/// deletes the comic or changes its status, type or genres (the others need
/// not read the row twice; a creation counts itself).
async fn comic_event(
    db: &mut PgConnection,
    schema: &str,
    at: &Stamp,
    e: ComicEvent,
) -> anyhow::Result<()> {
    let counted = match &e {
        ComicEvent::ComicDeleted {} => true,
        ComicEvent::ComicUpdated { changes } => {
            changes.status.is_some() || changes.comic_type.is_some() || changes.genres.is_some()
        }
        _ => false,
    };
    let before = match counted {
        true => counts::kind_of(db, schema, at.id).await?,
        false => None,
    };
    if matches!(e, ComicEvent::ComicDeleted {}) {
        engagement::forget(db, schema, at.id).await?;
    }
    comics::apply(db, schema, at, e).await?;
    if !counted {
        return Ok(());
    }
    let after = counts::kind_of(db, schema, at.id).await?;
    counts::moved(db, schema, before, after).await
}

/// `ComicUpdated` events being folded, by comic, with the stamp of the
/// last: applied as one change, they leave the row, its version and
/// `updated_at`, and the counts as applying them in turn does.
#[derive(Default)]
struct Updates(BTreeMap<Uuid, (Stamp, ComicChanges)>);

impl Updates {
    /// Takes `event` into the run if it is a `ComicUpdated`; says whether
    /// it did.
    fn take(&mut self, event: &EventRecord) -> anyhow::Result<bool> {
        let Some((id, changes)) = crate::cards::updated(event)? else {
            return Ok(false);
        };
        let at = Stamp {
            id,
            version: event.sequence,
            at: event.recorded_at,
        };
        let folded = match self.0.remove(&id) {
            Some((_, earlier)) => earlier.then(changes),
            None => changes,
        };
        self.0.insert(id, (at, folded));
        Ok(true)
    }

    async fn flush(&mut self, db: &mut PgConnection, schema: &str) -> anyhow::Result<()> {
        for (_, (at, changes)) in std::mem::take(&mut self.0) {
            comic_event(db, schema, &at, ComicEvent::ComicUpdated { changes }).await?;
        }
        Ok(())
    }
}

/// The aggregate, its version after the event, and when it was recorded.
struct Stamp {
    id: Uuid,
    version: i64,
    at: chrono::DateTime<chrono::Utc>,
}
