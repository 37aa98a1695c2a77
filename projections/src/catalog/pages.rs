//! Page events → `pages` rows (the metadata of each chapter's page images)
//! and their chapter's page count.

use comics_domain::values::Image;
use comics_domain::PageEvent;
use sqlx::PgConnection;
use uuid::Uuid;

use super::Stamp;

pub(super) async fn apply(
    db: &mut PgConnection,
    s: &str,
    at: &Stamp,
    event: PageEvent,
) -> anyhow::Result<()> {
    let chapter_id = at.id;
    match event {
        PageEvent::PageAdded {
            comic_id,
            number,
            image,
        }
        | PageEvent::PageReplaced {
            comic_id,
            number,
            image,
        } => put(db, s, chapter_id, comic_id, number, &image).await?,
        PageEvent::PageRemoved { number, .. } => {
            sqlx::query(&format!(
                "DELETE FROM {s}.pages WHERE chapter_id = $1 AND number = $2"
            ))
            .bind(chapter_id)
            .bind(number as i32)
            .execute(&mut *db)
            .await?;
        }
        PageEvent::PagesCleared { .. } => {
            sqlx::query(&format!("DELETE FROM {s}.pages WHERE chapter_id = $1"))
                .bind(chapter_id)
                .execute(&mut *db)
                .await?;
        }
    }
    count(db, s, chapter_id).await
}

/// Stores page `number` of a chapter the catalog shows (a chapter deleted
/// before its page's event is applied keeps no pages).
async fn put(
    db: &mut PgConnection,
    s: &str,
    chapter_id: Uuid,
    comic_id: Uuid,
    number: u32,
    image: &Image,
) -> anyhow::Result<()> {
    sqlx::query(&format!(
        "INSERT INTO {s}.pages (chapter_id, number, comic_id, content_type, width, height, size, sha256, key) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 \
         WHERE EXISTS (SELECT 1 FROM {s}.chapters WHERE id = $1) \
         ON CONFLICT (chapter_id, number) DO UPDATE SET \
            content_type = EXCLUDED.content_type, width = EXCLUDED.width, height = EXCLUDED.height, \
            size = EXCLUDED.size, sha256 = EXCLUDED.sha256, key = EXCLUDED.key"
    ))
    .bind(chapter_id)
    .bind(number as i32)
    .bind(comic_id)
    .bind(image.content_type.as_str())
    .bind(image.width as i32)
    .bind(image.height as i32)
    .bind(image.size as i64)
    .bind(&image.sha256)
    .bind(&image.key)
    .execute(&mut *db)
    .await?;
    Ok(())
}

/// Sets the chapter's `page_count` to the pages it has.
async fn count(db: &mut PgConnection, s: &str, chapter_id: Uuid) -> anyhow::Result<()> {
    sqlx::query(&format!(
        "UPDATE {s}.chapters SET page_count = \
            (SELECT count(*) FROM {s}.pages WHERE chapter_id = $1) WHERE id = $1"
    ))
    .bind(chapter_id)
    .execute(&mut *db)
    .await?;
    Ok(())
}
