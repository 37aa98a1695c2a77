//! Chapter events → `chapters` rows, and their comic's chapter count and
//! latest chapter.

use comics_domain::chapter::{ChapterChanges, NewChapter};
use comics_domain::ChapterEvent;
use sqlx::PgConnection;
use uuid::Uuid;

use super::Stamp;

pub(super) async fn apply(
    db: &mut PgConnection,
    s: &str,
    at: &Stamp,
    event: ChapterEvent,
) -> anyhow::Result<()> {
    let comic_id = match event {
        ChapterEvent::ChapterCreated { chapter, .. } => create(db, s, at, chapter).await?,
        ChapterEvent::ChapterUpdated { changes } => update(db, s, at, changes).await?,
        ChapterEvent::ChapterDeleted { comic_id } => {
            for (table, key) in [("chapters", "id"), ("pages", "chapter_id")] {
                sqlx::query(&format!("DELETE FROM {s}.{table} WHERE {key} = $1"))
                    .bind(at.id)
                    .execute(&mut *db)
                    .await?;
            }
            Some(comic_id)
        }
    };
    if let Some(comic_id) = comic_id {
        refresh_comic(db, s, comic_id).await?;
    }
    Ok(())
}

async fn create(
    db: &mut PgConnection,
    s: &str,
    at: &Stamp,
    c: NewChapter,
) -> anyhow::Result<Option<Uuid>> {
    // A chapter of a comic that is gone from the catalog is not shown.
    sqlx::query(&format!(
        "INSERT INTO {s}.chapters (id, comic_id, number, number_sort, title, volume, language, \
                                   published_at, created_at, updated_at, version) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10 \
         WHERE EXISTS (SELECT 1 FROM {s}.comics WHERE id = $2) \
         ON CONFLICT (id) DO NOTHING"
    ))
    .bind(at.id)
    .bind(c.comic_id)
    .bind(c.number.as_str())
    .bind(c.number.sort_key())
    .bind(c.title.as_ref().map(|t| t.as_str()))
    .bind(c.volume.as_ref().map(|v| v.as_str()))
    .bind(c.language.as_str())
    .bind(c.published_at)
    .bind(at.at)
    .bind(at.version)
    .execute(&mut *db)
    .await?;
    Ok(Some(c.comic_id))
}

async fn update(
    db: &mut PgConnection,
    s: &str,
    at: &Stamp,
    c: ChapterChanges,
) -> anyhow::Result<Option<Uuid>> {
    let comic_id: Option<Uuid> = sqlx::query_scalar(&format!(
        "UPDATE {s}.chapters SET \
            number = COALESCE($2, number), \
            number_sort = COALESCE($3, number_sort), \
            title = CASE WHEN $4 THEN $5 ELSE title END, \
            volume = CASE WHEN $6 THEN $7 ELSE volume END, \
            published_at = COALESCE($8, published_at), \
            updated_at = $9, version = $10 \
         WHERE id = $1 RETURNING comic_id"
    ))
    .bind(at.id)
    .bind(c.number.as_ref().map(|n| n.as_str()))
    .bind(c.number.as_ref().map(|n| n.sort_key()))
    .bind(c.title.is_some())
    .bind(c.title.flatten().as_ref().map(|t| t.as_str().to_string()))
    .bind(c.volume.is_some())
    .bind(c.volume.flatten().as_ref().map(|v| v.as_str().to_string()))
    .bind(c.published_at)
    .bind(at.at)
    .bind(at.version)
    .fetch_optional(&mut *db)
    .await?;
    Ok(comic_id)
}

/// Recomputes a comic's chapter count and latest chapter (most recently
/// published, then highest number).
async fn refresh_comic(db: &mut PgConnection, s: &str, comic_id: Uuid) -> sqlx::Result<()> {
    sqlx::query(&format!(
        "UPDATE {s}.comics c SET \
            chapter_count = (SELECT count(*) FROM {s}.chapters WHERE comic_id = c.id), \
            latest_chapter = ( \
                SELECT jsonb_build_object( \
                    'id', ch.id, 'number', ch.number, 'title', ch.title, \
                    'published_at', to_char(ch.published_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')) \
                FROM {s}.chapters ch WHERE ch.comic_id = c.id \
                ORDER BY ch.published_at DESC, ch.number_sort DESC, ch.id DESC LIMIT 1) \
         WHERE c.id = $1"
    ))
    .bind(comic_id)
    .execute(db)
    .await?;
    Ok(())
}
