//! The Comic aggregate: a catalog entry, and the register of its chapters'
//! numbers, which makes `(comic, language, number)` unique.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::values::{ChapterNumber, Image, Language};

mod details;

pub use details::{ComicChanges, ComicDetails};

#[derive(Debug, Clone, PartialEq)]
pub enum ComicCommand {
    Create {
        comic_id: Uuid,
        details: ComicDetails,
    },
    Update(ComicChanges),
    Delete,
    /// Reserve `number` in `language` for a chapter (new, or renumbered).
    ClaimChapterNumber {
        chapter_id: Uuid,
        language: Language,
        number: ChapterNumber,
    },
    /// Free a number a chapter held (it was renumbered or deleted).
    ReleaseChapterNumber {
        chapter_id: Uuid,
        language: Language,
        number: ChapterNumber,
    },
    /// Show `image` (already in object storage) as the comic's cover.
    SetCover {
        image: Image,
    },
    /// Show no cover.
    RemoveCover,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ComicEvent {
    ComicCreated {
        comic_id: Uuid,
        details: ComicDetails,
    },
    ComicUpdated {
        changes: ComicChanges,
    },
    ComicDeleted {},
    ChapterNumberClaimed {
        chapter_id: Uuid,
        language: Language,
        number: ChapterNumber,
    },
    ChapterNumberReleased {
        chapter_id: Uuid,
        language: Language,
        number: ChapterNumber,
    },
    CoverSet {
        image: Image,
    },
    CoverRemoved {},
}

impl DomainEvent for ComicEvent {
    fn event_type(&self) -> String {
        match self {
            Self::ComicCreated { .. } => "ComicCreated",
            Self::ComicUpdated { .. } => "ComicUpdated",
            Self::ComicDeleted {} => "ComicDeleted",
            Self::ChapterNumberClaimed { .. } => "ChapterNumberClaimed",
            Self::ChapterNumberReleased { .. } => "ChapterNumberReleased",
            Self::CoverSet { .. } => "CoverSet",
            Self::CoverRemoved {} => "CoverRemoved",
        }
        .to_string()
    }
    fn event_version(&self) -> String {
        "1".to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComicError {
    #[error("comic not found")]
    NotFound,
    #[error("comic already exists")]
    AlreadyExists,
    #[error("chapter {number} ({language}) already exists in this comic")]
    ChapterNumberTaken { language: String, number: String },
    #[error("the comic has no cover")]
    NoCover,
    #[error("a dependency is unavailable: {0}")]
    Unavailable(String),
}

/// Facts the Comic aggregate needs from outside itself.
#[async_trait]
pub trait ComicServices: Send + Sync {
    /// Whether chapter `chapter_id` exists, is not deleted and has `number`
    /// in `language` — used to recognise a claim left behind by a crash
    /// between claiming a number and writing the chapter.
    async fn chapter_holds(
        &self,
        chapter_id: Uuid,
        language: &Language,
        number: &ChapterNumber,
    ) -> Result<bool, String>;
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Comic {
    pub details: Option<ComicDetails>,
    pub deleted: bool,
    /// Which chapter holds each number, by language and number. A chapter
    /// may hold two numbers for a moment while it is renumbered (the new one
    /// is claimed before the chapter changes, the old one released after),
    /// so a crash in between leaves a claim too many, never one too few.
    #[serde(with = "number_register")]
    pub numbers: BTreeMap<(Language, ChapterNumber), Uuid>,
    /// The cover shown, if any.
    #[serde(default)]
    pub cover: Option<Image>,
}

impl Comic {
    fn live(&self) -> Result<&ComicDetails, ComicError> {
        match (&self.details, self.deleted) {
            (Some(d), false) => Ok(d),
            _ => Err(ComicError::NotFound),
        }
    }

    async fn create(
        &mut self,
        comic_id: Uuid,
        details: ComicDetails,
        sink: &EventSink<Self>,
    ) -> Result<(), ComicError> {
        if self.details.is_some() {
            return Err(ComicError::AlreadyExists);
        }
        sink.write(ComicEvent::ComicCreated { comic_id, details }, self)
            .await;
        Ok(())
    }

    async fn update(
        &mut self,
        changes: ComicChanges,
        sink: &EventSink<Self>,
    ) -> Result<(), ComicError> {
        let changes = changes.against(self.live()?);
        if !changes.is_empty() {
            sink.write(ComicEvent::ComicUpdated { changes }, self).await;
        }
        Ok(())
    }

    async fn delete(&mut self, sink: &EventSink<Self>) -> Result<(), ComicError> {
        self.live()?;
        sink.write(ComicEvent::ComicDeleted {}, self).await;
        Ok(())
    }

    async fn claim(
        &mut self,
        chapter_id: Uuid,
        language: Language,
        number: ChapterNumber,
        services: &dyn ComicServices,
        sink: &EventSink<Self>,
    ) -> Result<(), ComicError> {
        self.live()?;
        let key = (language.clone(), number.clone());
        let holder = self.numbers.get(&key).copied();
        if holder == Some(chapter_id) {
            return Ok(());
        }
        if let Some(holder) = holder {
            let held = services
                .chapter_holds(holder, &language, &number)
                .await
                .map_err(ComicError::Unavailable)?;
            if held {
                return Err(ComicError::ChapterNumberTaken {
                    language: language.as_str().into(),
                    number: number.as_str().into(),
                });
            }
            let stale = ComicEvent::ChapterNumberReleased {
                chapter_id: holder,
                language: language.clone(),
                number: number.clone(),
            };
            sink.write(stale, self).await;
        }
        let claimed = ComicEvent::ChapterNumberClaimed {
            chapter_id,
            language,
            number,
        };
        sink.write(claimed, self).await;
        Ok(())
    }

    /// Frees `number` in `language` if `chapter_id` still holds it.
    async fn release(
        &mut self,
        chapter_id: Uuid,
        language: Language,
        number: ChapterNumber,
        sink: &EventSink<Self>,
    ) {
        let key = (language, number);
        if self.numbers.get(&key) == Some(&chapter_id) {
            let (language, number) = key;
            let event = ComicEvent::ChapterNumberReleased {
                chapter_id,
                language,
                number,
            };
            sink.write(event, self).await;
        }
    }

    async fn set_cover(&mut self, image: Image, sink: &EventSink<Self>) -> Result<(), ComicError> {
        self.live()?;
        if self.cover.as_ref() != Some(&image) {
            sink.write(ComicEvent::CoverSet { image }, self).await;
        }
        Ok(())
    }

    async fn remove_cover(&mut self, sink: &EventSink<Self>) -> Result<(), ComicError> {
        self.live()?;
        if self.cover.is_none() {
            return Err(ComicError::NoCover);
        }
        sink.write(ComicEvent::CoverRemoved {}, self).await;
        Ok(())
    }
}

impl Aggregate for Comic {
    const TYPE: &'static str = crate::aggregate_types::COMIC;
    type Command = ComicCommand;
    type Event = ComicEvent;
    type Error = ComicError;
    type Services = Arc<dyn ComicServices>;

    async fn handle(
        &mut self,
        command: ComicCommand,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), ComicError> {
        match command {
            ComicCommand::Create { comic_id, details } => {
                self.create(comic_id, details, sink).await
            }
            ComicCommand::Update(changes) => self.update(changes, sink).await,
            ComicCommand::Delete => self.delete(sink).await,
            ComicCommand::ClaimChapterNumber {
                chapter_id,
                language,
                number,
            } => {
                self.claim(chapter_id, language, number, services.as_ref(), sink)
                    .await
            }
            ComicCommand::ReleaseChapterNumber {
                chapter_id,
                language,
                number,
            } => {
                self.release(chapter_id, language, number, sink).await;
                Ok(())
            }
            ComicCommand::SetCover { image } => self.set_cover(image, sink).await,
            ComicCommand::RemoveCover => self.remove_cover(sink).await,
        }
    }

    fn apply(&mut self, event: ComicEvent) {
        match event {
            ComicEvent::ComicCreated { details, .. } => self.details = Some(details),
            ComicEvent::ComicUpdated { changes } => {
                if let Some(d) = self.details.as_mut() {
                    changes.apply_to(d);
                }
            }
            ComicEvent::ComicDeleted {} => self.deleted = true,
            ComicEvent::ChapterNumberClaimed {
                chapter_id,
                language,
                number,
            } => {
                self.numbers.insert((language, number), chapter_id);
            }
            ComicEvent::ChapterNumberReleased {
                chapter_id,
                language,
                number,
            } => {
                let key = (language, number);
                if self.numbers.get(&key) == Some(&chapter_id) {
                    self.numbers.remove(&key);
                }
            }
            ComicEvent::CoverSet { image } => self.cover = Some(image),
            ComicEvent::CoverRemoved {} => self.cover = None,
        }
    }
}

/// Serializes the register as a list (JSON maps need string keys).
mod number_register {
    use super::*;
    use serde::{Deserializer, Serializer};

    type Register = BTreeMap<(Language, ChapterNumber), Uuid>;

    pub fn serialize<S: Serializer>(map: &Register, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter().map(|((l, n), id)| (l, n, id)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Register, D::Error> {
        let items: Vec<(Language, ChapterNumber, Uuid)> = Deserialize::deserialize(d)?;
        Ok(items.into_iter().map(|(l, n, id)| ((l, n), id)).collect())
    }
}

#[cfg(test)]
#[path = "comic_tests.rs"]
mod tests;
