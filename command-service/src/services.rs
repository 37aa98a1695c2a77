//! The facts aggregates ask about each other, read from the event store
//! itself (strongly consistent), never from a projection.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use comics_domain::values::{ChapterNumber, Language};
use comics_domain::{
    Chapter, ChapterServices, Comic, ComicServices, LibraryServices, RatingServices,
};
use uuid::Uuid;

use crate::bus::{load, Store};

/// Answers the Comic aggregate's questions about chapters.
pub struct ChapterFacts(pub Arc<Store<Chapter>>);

#[async_trait]
impl ComicServices for ChapterFacts {
    async fn chapter_holds(
        &self,
        chapter_id: Uuid,
        language: &Language,
        number: &ChapterNumber,
    ) -> Result<bool, String> {
        let (chapter, _) = load(&self.0, &chapter_id.to_string())
            .await
            .map_err(|e| e.to_string())?;
        Ok(chapter.holds() == Some((language, number)))
    }
}

/// Answers the Chapter, Rating and Library aggregates' question: is the
/// comic there (created, not deleted)?
pub struct ComicFacts(pub Arc<Store<Comic>>);

impl ComicFacts {
    async fn is_live(&self, comic_id: Uuid) -> Result<bool, String> {
        let (comic, _) = load(&self.0, &comic_id.to_string())
            .await
            .map_err(|e| e.to_string())?;
        Ok(comic.details.is_some() && !comic.deleted)
    }
}

/// Answers each service trait's one question with the type's `is_live`.
macro_rules! comic_is_live {
    ($facts:ty: $($trait:ident),+) => {$(
        #[async_trait]
        impl $trait for $facts {
            async fn comic_is_live(&self, comic_id: Uuid) -> Result<bool, String> {
                self.is_live(comic_id).await
            }
        }
    )+};
}

comic_is_live!(ComicFacts: ChapterServices, RatingServices, LibraryServices);

/// [`ComicFacts`] for one round of a group commit: each comic is asked about
/// once per round.
pub struct RoundFacts {
    comics: Arc<ComicFacts>,
    known: Mutex<HashMap<Uuid, bool>>,
}

impl RoundFacts {
    pub fn new(comics: Arc<ComicFacts>) -> Self {
        Self {
            comics,
            known: Mutex::new(HashMap::new()),
        }
    }

    async fn is_live(&self, comic_id: Uuid) -> Result<bool, String> {
        let known = self
            .known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&comic_id)
            .copied();
        if let Some(live) = known {
            return Ok(live);
        }
        let live = self.comics.is_live(comic_id).await?;
        self.known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(comic_id, live);
        Ok(live)
    }
}

comic_is_live!(RoundFacts: RatingServices, LibraryServices);
