//! The thumbnails projection: follows the comics' cover events like any
//! projector (checkpointed, idempotent per aggregate sequence, rebuildable)
//! and, for each cover set, makes its thumbnails ([`render`]), stores them
//! in object storage under their own sha256 (content-addressed, like every
//! image) and records them, one row per comic and width. A removed cover or
//! a deleted comic loses its rows; a replaced cover's rows are replaced.
//!
//! Fed by the stream, it renders and stores in `prepare`, before the
//! runner opens the batch's transaction (so no transaction is open while it
//! renders), and applying records what was made; a rebuild, or a batch
//! applied without preparing, renders while applying. The bytes are written
//! before the rows that name them commit, as uploads do: a batch that fails
//! leaves at most unnamed bytes, which `comics storage gc` removes.
//! Rendering is deterministic, so a rebuild names the same keys as the live
//! rows. A cover that cannot be rendered (too large for the decode budget,
//! or undecodable) gets no rows and is logged; the original is served for
//! it. A storage outage fails the batch, which is
//! retried.

pub mod render;

use std::collections::HashMap;
use std::sync::Mutex;

use anyhow::Context;
use async_trait::async_trait;
use bytes::Bytes;
use comics_common::projections::{ProjectionInfo, THUMBNAILS};
use comics_domain::values::Image;
use comics_domain::ComicEvent;
use comics_eventlog::EventRecord;
use comics_storage::{Storage, StorageError, LIMIT_COVER};
use futures::TryStreamExt;
use sqlx::PgConnection;
use uuid::Uuid;

pub use render::WIDTHS;

pub struct ThumbnailsProjector {
    storage: Storage,
    /// The thumbnails made by [`Projector::prepare`](crate::Projector::prepare),
    /// by event (`Nats-Msg-Id`), until applied.
    prepared: Mutex<HashMap<String, Vec<Made>>>,
}

impl ThumbnailsProjector {
    pub fn new(storage: Storage) -> Self {
        Self {
            storage,
            prepared: Mutex::new(HashMap::new()),
        }
    }

    fn prepared(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Made>>> {
        self.prepared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The cover an event sets, if it sets one.
fn cover_set(event: &EventRecord) -> anyhow::Result<Option<Image>> {
    if event.event_type != "CoverSet" {
        return Ok(None);
    }
    match serde_json::from_value(event.tagged_payload())? {
        ComicEvent::CoverSet { image } => Ok(Some(image)),
        _ => Ok(None),
    }
}

#[async_trait]
impl crate::Projector for ThumbnailsProjector {
    fn info(&self) -> ProjectionInfo {
        THUMBNAILS
    }

    /// Renders and stores each cover's thumbnails before the transaction:
    /// the runner's batch (every projection of the database) waits for the
    /// rendering, but no transaction stays open meanwhile. Keeps only what
    /// these events made (a retry of the batch finds it made).
    async fn prepare(&self, events: &[&EventRecord]) -> anyhow::Result<()> {
        let ids: Vec<String> = events.iter().map(|e| e.message_id()).collect();
        self.prepared().retain(|id, _| ids.contains(id));
        for (event, id) in events.iter().zip(ids) {
            if self.prepared().contains_key(&id) {
                continue;
            }
            let Some(image) = cover_set(event)? else {
                continue;
            };
            let comic: Uuid = event
                .aggregate_id
                .parse()
                .context("aggregate id is not a UUID")?;
            let made = self.make(comic, &image).await?;
            self.prepared().insert(id, made);
        }
        Ok(())
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
        // Only these three touch a cover; the others are not parsed.
        if !matches!(
            event.event_type.as_str(),
            "CoverSet" | "CoverRemoved" | "ComicDeleted"
        ) {
            return Ok(());
        }
        let id: Uuid = event
            .aggregate_id
            .parse()
            .context("aggregate id is not a UUID")?;
        forget(db, s, id).await?;
        if let Some(image) = cover_set(event)? {
            let prepared = self.prepared().remove(&event.message_id());
            let made = match prepared {
                Some(made) => made,
                None => self.make(id, &image).await?,
            };
            for thumbnail in made {
                record(db, s, id, event.sequence, &image, &thumbnail).await?;
            }
        }
        Ok(())
    }
}

/// A thumbnail stored: the width asked for and the stored image.
struct Made {
    width: u32,
    image: Image,
}

impl ThumbnailsProjector {
    /// Renders and stores the thumbnails of `cover` (none when it cannot be
    /// rendered); fails only when the store does.
    async fn make(&self, comic: Uuid, cover: &Image) -> anyhow::Result<Vec<Made>> {
        let bytes = match self.read(&cover.key).await {
            Ok(bytes) => bytes,
            Err(StorageError::Missing(key)) => {
                tracing::warn!(%comic, %key, "the cover's bytes are missing: no thumbnails");
                return Ok(Vec::new());
            }
            Err(e) => return Err(e.into()),
        };
        let (kind, size) = (cover.content_type, (cover.width, cover.height));
        let rendered =
            tokio::task::spawn_blocking(move || render::render(&bytes, kind, size, &WIDTHS))
                .await?;
        let thumbnails = match rendered {
            Ok(thumbnails) => thumbnails,
            Err(why) => {
                tracing::warn!(%comic, error = %why, "no thumbnails for this cover");
                return Ok(Vec::new());
            }
        };
        let mut made = Vec::with_capacity(thumbnails.len());
        for t in thumbnails {
            let body = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from(t.bytes))]);
            let image = self
                .storage
                .put_image(t.kind, body, LIMIT_COVER)
                .await
                .with_context(|| format!("cannot store the {} px thumbnail", t.width))?;
            made.push(Made {
                width: t.width,
                image,
            });
        }
        Ok(made)
    }

    /// The whole object at `key` (a cover: at most [`LIMIT_COVER`] bytes).
    async fn read(&self, key: &str) -> Result<Vec<u8>, StorageError> {
        let fetched = self.storage.get(key, None).await?;
        let mut bytes = Vec::with_capacity(fetched.size.min(LIMIT_COVER) as usize);
        let mut stream = fetched.bytes;
        while let Some(chunk) = stream.try_next().await? {
            if (bytes.len() + chunk.len()) as u64 > LIMIT_COVER {
                return Err(StorageError::Unavailable(format!(
                    "{key} is larger than a cover may be"
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }
}

async fn forget(db: &mut PgConnection, s: &str, comic: Uuid) -> anyhow::Result<()> {
    sqlx::query(&format!("DELETE FROM {s}.thumbnails WHERE comic_id = $1"))
        .bind(comic)
        .execute(&mut *db)
        .await?;
    Ok(())
}

async fn record(
    db: &mut PgConnection,
    s: &str,
    comic: Uuid,
    version: i64,
    cover: &Image,
    made: &Made,
) -> anyhow::Result<()> {
    let image = &made.image;
    sqlx::query(&format!(
        "INSERT INTO {s}.thumbnails (comic_id, width, source_sha256, height, content_type, size, sha256, key, version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    ))
    .bind(comic)
    .bind(made.width as i32)
    .bind(&cover.sha256)
    .bind(image.height as i32)
    .bind(image.content_type.as_str())
    .bind(image.size as i64)
    .bind(&image.sha256)
    .bind(&image.key)
    .bind(version)
    .execute(&mut *db)
    .await?;
    Ok(())
}
