//! Comic events → `comics` rows and `genres` counts.

use comics_domain::comic::{ComicChanges, ComicDetails};
use comics_domain::values::{Image, SearchText};
use comics_domain::ComicEvent;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{counts, Stamp};

pub(super) async fn apply(
    db: &mut PgConnection,
    s: &str,
    at: &Stamp,
    event: ComicEvent,
) -> anyhow::Result<()> {
    match event {
        ComicEvent::ComicCreated { details, .. } => create(db, s, at, details).await,
        ComicEvent::ComicUpdated { changes } => update(db, s, at, changes).await,
        ComicEvent::ComicDeleted {} => delete(db, s, at).await,
        ComicEvent::CoverSet { image } => cover(db, s, at, Some(&image)).await,
        ComicEvent::CoverRemoved {} => cover(db, s, at, None).await,
        // The register of chapter numbers is not read; the comic's version moves.
        ComicEvent::ChapterNumberClaimed { .. } | ComicEvent::ChapterNumberReleased { .. } => {
            touch(db, s, at).await
        }
    }
}

fn strings<T: AsRef<str>>(items: impl IntoIterator<Item = T>) -> Vec<String> {
    items.into_iter().map(|i| i.as_ref().to_string()).collect()
}

/// Inserts the comic and counts it (genres, `counts`, `filter_counts`) in
/// one statement: a creation is the most common Comic event by far, and one
/// round trip instead of several keeps the projector up with a fast writer.
async fn create(db: &mut PgConnection, s: &str, at: &Stamp, d: ComicDetails) -> anyhow::Result<()> {
    let genres = strings(d.genres.as_slice().iter().map(|g| g.as_str()));
    let alt_titles = strings(d.alt_titles.as_slice());
    let search = search_of(d.title.as_str(), &alt_titles);
    let (status, kind) = (d.status.as_str(), d.comic_type.as_str());
    let [g1, g2, st, ty] = counts::filter_columns(&genres, status, kind);
    sqlx::query(&format!(
        "WITH new AS ( \
           INSERT INTO {s}.comics (id, title, alt_titles, description, authors, artists, status, type, \
                                   genres, search_text, search_grams, created_at, updated_at, version) \
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13) \
           ON CONFLICT (id) DO NOTHING RETURNING id), \
         by_genre AS ( \
           INSERT INTO {s}.genres AS g (genre, comics) \
           SELECT genre, 1 FROM unnest($9::text[]) AS genre WHERE EXISTS (SELECT 1 FROM new) \
           ON CONFLICT (genre) DO UPDATE SET comics = g.comics + 1), \
         kept AS ( \
           INSERT INTO {s}.counts AS c (key, comics) \
           SELECT key, 1 FROM unnest($14::text[]) AS key WHERE EXISTS (SELECT 1 FROM new) \
           ON CONFLICT (key) DO UPDATE SET comics = c.comics + 1) \
         INSERT INTO {s}.filter_counts AS f (g1, g2, status, type, comics) \
         SELECT g1, g2, st, ty, 1 FROM unnest($15::text[], $16::text[], $17::text[], $18::text[]) \
           AS k(g1, g2, st, ty) WHERE EXISTS (SELECT 1 FROM new) \
         ON CONFLICT (g1, g2, status, type) DO UPDATE SET comics = f.comics + 1"
    ))
    .bind(at.id)
    .bind(d.title.as_str())
    .bind(&alt_titles)
    .bind(d.description.as_str())
    .bind(strings(d.authors.as_slice()))
    .bind(strings(d.artists.as_slice()))
    .bind(status)
    .bind(kind)
    .bind(&genres)
    .bind(&search.text)
    .bind(&search.grams)
    .bind(at.at)
    .bind(at.version)
    .bind(counts::keys_of(status, kind))
    .bind(g1)
    .bind(g2)
    .bind(st)
    .bind(ty)
    .execute(&mut *db)
    .await?;
    Ok(())
}

async fn update(db: &mut PgConnection, s: &str, at: &Stamp, c: ComicChanges) -> anyhow::Result<()> {
    let new_genres = c
        .genres
        .as_ref()
        .map(|g| strings(g.as_slice().iter().map(|g| g.as_str())));
    if let Some(new) = &new_genres {
        let old: Option<Vec<String>> =
            sqlx::query_scalar(&format!("SELECT genres FROM {s}.comics WHERE id = $1"))
                .bind(at.id)
                .fetch_optional(&mut *db)
                .await?;
        if let Some(old) = old {
            count_genres(db, s, &old, -1).await?;
            count_genres(db, s, new, 1).await?;
        }
    }
    let search = new_search(db, s, at.id, &c).await?;
    sqlx::query(&format!(
        "UPDATE {s}.comics SET \
            title = COALESCE($2, title), \
            alt_titles = COALESCE($3, alt_titles), \
            description = COALESCE($4, description), \
            authors = COALESCE($5, authors), \
            artists = COALESCE($6, artists), \
            status = COALESCE($7, status), \
            type = COALESCE($8, type), \
            genres = COALESCE($9, genres), \
            search_text = COALESCE($12, search_text), \
            search_grams = COALESCE($13, search_grams), \
            updated_at = $10, version = $11 \
         WHERE id = $1"
    ))
    .bind(at.id)
    .bind(c.title.as_ref().map(|t| t.as_str()))
    .bind(c.alt_titles.as_ref().map(|n| strings(n.as_slice())))
    .bind(c.description.as_ref().map(|d| d.as_str()))
    .bind(c.authors.as_ref().map(|n| strings(n.as_slice())))
    .bind(c.artists.as_ref().map(|n| strings(n.as_slice())))
    .bind(c.status.map(|v| v.as_str()))
    .bind(c.comic_type.map(|v| v.as_str()))
    .bind(new_genres)
    .bind(at.at)
    .bind(at.version)
    .bind(search.as_ref().map(|s| &s.text))
    .bind(search.as_ref().map(|s| &s.grams))
    .execute(&mut *db)
    .await?;
    Ok(())
}

/// The new search columns when the title or the alternative titles change
/// (the unchanged one read from the row); `None` when neither does.
async fn new_search(
    db: &mut PgConnection,
    s: &str,
    id: Uuid,
    c: &ComicChanges,
) -> anyhow::Result<Option<SearchText>> {
    if c.title.is_none() && c.alt_titles.is_none() {
        return Ok(None);
    }
    let old: Option<(String, Vec<String>)> = sqlx::query_as(&format!(
        "SELECT title, alt_titles FROM {s}.comics WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *db)
    .await?;
    let Some((title, alt_titles)) = old else {
        return Ok(None);
    };
    let title = c.title.as_ref().map_or(title.as_str(), |t| t.as_str());
    let alt_titles = c
        .alt_titles
        .as_ref()
        .map_or(alt_titles, |n| strings(n.as_slice()));
    Ok(Some(search_of(title, &alt_titles)))
}

/// The search columns of a comic with this title and these alternative
/// titles, as the query side matches them (see [`SearchText`]).
fn search_of(title: &str, alt_titles: &[String]) -> SearchText {
    SearchText::of(std::iter::once(title).chain(alt_titles.iter().map(String::as_str)))
}

async fn delete(db: &mut PgConnection, s: &str, at: &Stamp) -> anyhow::Result<()> {
    let genres: Option<Vec<String>> = sqlx::query_scalar(&format!(
        "DELETE FROM {s}.comics WHERE id = $1 RETURNING genres"
    ))
    .bind(at.id)
    .fetch_optional(&mut *db)
    .await?;
    if let Some(genres) = genres {
        count_genres(db, s, &genres, -1).await?;
    }
    for table in ["chapters", "pages"] {
        sqlx::query(&format!("DELETE FROM {s}.{table} WHERE comic_id = $1"))
            .bind(at.id)
            .execute(&mut *db)
            .await?;
    }
    Ok(())
}

/// The comic's cover (its metadata, and the URL documents and cards show).
async fn cover(
    db: &mut PgConnection,
    s: &str,
    at: &Stamp,
    image: Option<&Image>,
) -> anyhow::Result<()> {
    let url = image.map(|_| crate::cards::cover_url(at.id));
    let image = image.map(serde_json::to_value).transpose()?;
    sqlx::query(&format!(
        "UPDATE {s}.comics SET cover = $2, cover_url = $3, version = $4, updated_at = $5 WHERE id = $1"
    ))
    .bind(at.id)
    .bind(image)
    .bind(url)
    .bind(at.version)
    .bind(at.at)
    .execute(&mut *db)
    .await?;
    Ok(())
}

async fn touch(db: &mut PgConnection, s: &str, at: &Stamp) -> anyhow::Result<()> {
    sqlx::query(&format!(
        "UPDATE {s}.comics SET version = $2, updated_at = $3 WHERE id = $1"
    ))
    .bind(at.id)
    .bind(at.version)
    .bind(at.at)
    .execute(&mut *db)
    .await?;
    Ok(())
}

/// Adds `delta` to each genre's comic count; genres that reach 0 disappear.
async fn count_genres(
    db: &mut PgConnection,
    s: &str,
    genres: &[String],
    delta: i32,
) -> sqlx::Result<()> {
    if genres.is_empty() {
        return Ok(());
    }
    sqlx::query(&format!(
        "INSERT INTO {s}.genres (genre, comics) SELECT g, $2 FROM unnest($1::text[]) AS g \
         ON CONFLICT (genre) DO UPDATE SET comics = {s}.genres.comics + EXCLUDED.comics"
    ))
    .bind(genres)
    .bind(delta)
    .execute(&mut *db)
    .await?;
    sqlx::query(&format!("DELETE FROM {s}.genres WHERE comics <= 0"))
        .execute(&mut *db)
        .await?;
    Ok(())
}
