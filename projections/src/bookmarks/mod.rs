//! The bookmarks projection: each user's library (newest first) and each
//! comic's bookmark count. A deleted comic leaves every library.

use async_trait::async_trait;
use comics_common::projections::{ProjectionInfo, BOOKMARKS};
use comics_domain::aggregate_types::{COMIC, LIBRARY};
use comics_domain::LibraryEvent;
use comics_eventlog::EventRecord;
use sqlx::PgConnection;

pub struct BookmarksProjector;

#[async_trait]
impl crate::Projector for BookmarksProjector {
    fn info(&self) -> ProjectionInfo {
        BOOKMARKS
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
            COMIC => crate::cards::comic_event(db, s, event, &["bookmarks", "counts"])
                .await
                .map(|_| ()),
            LIBRARY => {
                let e: LibraryEvent = serde_json::from_value(event.tagged_payload())?;
                library(db, s, e, event.recorded_at).await
            }
            _ => Ok(()),
        }
    }

    /// Runs of comic changes are folded ([`crate::cards::apply_all`]).
    async fn apply_all(
        &self,
        db: &mut PgConnection,
        s: &str,
        events: &[&EventRecord],
    ) -> anyhow::Result<()> {
        crate::cards::apply_all(self, db, s, events).await
    }
}

async fn library(
    db: &mut PgConnection,
    s: &str,
    e: LibraryEvent,
    at: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    let (user, comic_id, added) = match e {
        LibraryEvent::ComicBookmarked { user, comic_id } => (user, comic_id, true),
        LibraryEvent::ComicUnbookmarked { user, comic_id } => (user, comic_id, false),
    };
    let changed = if added {
        sqlx::query(&format!(
            "INSERT INTO {s}.bookmarks (user_id, comic_id, bookmarked_at) \
             SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM {s}.comics WHERE id = $2) \
             ON CONFLICT DO NOTHING"
        ))
        .bind(&user)
        .bind(comic_id)
        .bind(at)
        .execute(&mut *db)
        .await?
    } else {
        sqlx::query(&format!(
            "DELETE FROM {s}.bookmarks WHERE user_id = $1 AND comic_id = $2"
        ))
        .bind(&user)
        .bind(comic_id)
        .execute(&mut *db)
        .await?
    };
    if changed.rows_affected() == 1 {
        let delta = if added { 1 } else { -1 };
        sqlx::query(&format!(
            "INSERT INTO {s}.counts AS c (comic_id, bookmarks) VALUES ($1, $2) \
             ON CONFLICT (comic_id) DO UPDATE SET bookmarks = c.bookmarks + EXCLUDED.bookmarks"
        ))
        .bind(comic_id)
        .bind(delta)
        .execute(&mut *db)
        .await?;
        sqlx::query(&format!("DELETE FROM {s}.counts WHERE bookmarks <= 0"))
            .execute(&mut *db)
            .await?;
    }
    Ok(())
}
