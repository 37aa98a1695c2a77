//! The comic cards a projection shows beside its own data (id, title,
//! cover, status, type), kept from Comic events. Shared by the projections
//! whose reads list comics (ratings, bookmarks).

use anyhow::Context;
use comics_domain::ComicEvent;
use comics_eventlog::EventRecord;
use sqlx::PgConnection;
use uuid::Uuid;

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
