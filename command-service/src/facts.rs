//! The facts aggregates ask about each other, read from the event store
//! itself (strongly consistent), never from a projection.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use comics_common::db::Held;
use comics_domain::values::{ChapterNumber, Language};
use comics_domain::{
    Chapter, ChapterServices, Comic, ComicServices, Library, LibraryCommand, LibraryServices,
    PageServices, Rating, RatingCommand, RatingServices,
};
use cqrs_es::Aggregate;
use uuid::Uuid;

use crate::group_commit::RoundServices;
use crate::store::Store;

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
        let (chapter, _) = self
            .0
            .load(&chapter_id.to_string())
            .await
            .map_err(|e| e.to_string())?;
        Ok(chapter.holds() == Some((language, number)))
    }
}

/// Answers the Chapter, Rating and Library aggregates' question: is the
/// comic there (created, not deleted)?
pub struct ComicFacts(pub Arc<Store<Comic>>);

/// Whether a comic is there: created, not deleted.
fn live(comic: &Comic) -> bool {
    comic.details.is_some() && !comic.deleted
}

impl ComicFacts {
    async fn is_live(&self, comic_id: Uuid) -> Result<bool, String> {
        let (comic, _) = self
            .0
            .load(&comic_id.to_string())
            .await
            .map_err(|e| e.to_string())?;
        Ok(live(&comic))
    }

    /// Whether each of `comic_ids` is live, as of the store, read with one
    /// statement on `held` ([`Store::load_many`]: each copy in memory caught
    /// up from the events after it, the others read whole).
    async fn are_live(
        &self,
        held: &mut Held,
        comic_ids: &[Uuid],
    ) -> Result<HashMap<Uuid, bool>, String> {
        let ids: Vec<String> = comic_ids.iter().map(Uuid::to_string).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let db = held.get().await.map_err(|e| e.to_string())?;
        let comics = self
            .0
            .load_many(db, &ids)
            .await
            .map_err(|e| e.to_string())?;
        Ok(comic_ids
            .iter()
            .zip(comics)
            .map(|(id, context)| (*id, live(&context.aggregate)))
            .collect())
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

/// Answers the Page aggregate's question: is the chapter there, and its
/// comic (created, not deleted)?
pub struct PageFacts {
    pub chapters: Arc<Store<Chapter>>,
    pub comics: Arc<ComicFacts>,
}

#[async_trait]
impl PageServices for PageFacts {
    async fn live_chapter(&self, chapter_id: Uuid) -> Result<Option<Uuid>, String> {
        let (chapter, _) = self
            .chapters
            .load(&chapter_id.to_string())
            .await
            .map_err(|e| e.to_string())?;
        let Some(comic_id) = chapter.comic_id().filter(|_| chapter.holds().is_some()) else {
            return Ok(None);
        };
        Ok(self.comics.is_live(comic_id).await?.then_some(comic_id))
    }
}

/// [`ComicFacts`] for one round of a group commit: the comics the round's
/// commands name are read together before it ([`RoundComics`]), and each
/// comic is asked about once per round. A comic not read beforehand is
/// loaded when asked.
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

    /// Facts for a round naming `comic_ids`, all read as of the store in
    /// one statement on `held`. If that fails, each comic is loaded when
    /// asked, and fails (or not) as it would have alone.
    pub async fn caught_up(
        comics: Arc<ComicFacts>,
        held: &mut Held,
        mut comic_ids: Vec<Uuid>,
    ) -> Self {
        let facts = Self::new(comics);
        comic_ids.sort_unstable();
        comic_ids.dedup();
        if comic_ids.is_empty() {
            return facts;
        }
        match facts.comics.are_live(held, &comic_ids).await {
            Ok(known) => *facts.known.lock().unwrap_or_else(|e| e.into_inner()) = known,
            Err(error) => {
                held.discard();
                tracing::warn!(%error, "cannot read a round's comics together");
            }
        }
        facts
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

/// Makes each group-commit round's [`RoundFacts`] for aggregate `A`, with
/// every comic the round's commands ask about read in one statement.
pub struct RoundComics<A: Aggregate> {
    facts: Arc<ComicFacts>,
    /// The comic a command will ask about, if any.
    asks: fn(&A::Command) -> Option<Uuid>,
    /// The facts as `A`'s services.
    serve: fn(RoundFacts) -> A::Services,
}

impl RoundComics<Rating> {
    /// For rating commands: giving a score asks whether the comic is live.
    pub fn ratings(facts: Arc<ComicFacts>) -> Self {
        Self {
            facts,
            asks: |command| match command {
                RatingCommand::Rate { comic_id, .. } => Some(*comic_id),
                RatingCommand::Unrate => None,
            },
            serve: |facts| Arc::new(facts),
        }
    }
}

impl RoundComics<Library> {
    /// For bookmark commands: bookmarking asks whether the comic is live.
    pub fn bookmarks(facts: Arc<ComicFacts>) -> Self {
        Self {
            facts,
            asks: |command| match command {
                LibraryCommand::Bookmark { comic_id, .. } => Some(*comic_id),
                LibraryCommand::Unbookmark { .. } => None,
            },
            serve: |facts| Arc::new(facts),
        }
    }
}

#[async_trait]
impl<A> RoundServices<A> for RoundComics<A>
where
    A: Aggregate + 'static,
    A::Command: Sync,
{
    async fn for_round(&self, held: &mut Held, commands: &[&A::Command]) -> A::Services {
        let comic_ids = commands.iter().filter_map(|c| (self.asks)(c)).collect();
        (self.serve)(RoundFacts::caught_up(self.facts.clone(), held, comic_ids).await)
    }
}
