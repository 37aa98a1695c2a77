//! The Chapter aggregate: one chapter of one comic. Its number's uniqueness
//! is guarded by the Comic aggregate, which holds the register of numbers.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::serde_util::double_option;
use crate::values::{ChapterNumber, ChapterTitle, Language, Volume};

/// A new chapter's fields, all validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewChapter {
    pub comic_id: Uuid,
    pub number: ChapterNumber,
    pub language: Language,
    pub title: Option<ChapterTitle>,
    pub volume: Option<Volume>,
    pub published_at: DateTime<Utc>,
}

/// A change to a chapter; `None` leaves a field as is, `Some(None)` clears it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ChapterChanges {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<ChapterNumber>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub title: Option<Option<ChapterTitle>>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub volume: Option<Option<Volume>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<DateTime<Utc>>,
}

impl ChapterChanges {
    fn against(self, current: &NewChapter) -> Self {
        fn keep<T: PartialEq>(new: Option<T>, old: &T) -> Option<T> {
            new.filter(|v| v != old)
        }
        Self {
            number: keep(self.number, &current.number),
            title: keep(self.title, &current.title),
            volume: keep(self.volume, &current.volume),
            published_at: keep(self.published_at, &current.published_at),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ChapterCommand {
    Create {
        chapter_id: Uuid,
        chapter: NewChapter,
    },
    Update(ChapterChanges),
    Delete,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ChapterEvent {
    ChapterCreated {
        chapter_id: Uuid,
        chapter: NewChapter,
    },
    ChapterUpdated {
        changes: ChapterChanges,
    },
    ChapterDeleted {
        comic_id: Uuid,
    },
}

impl DomainEvent for ChapterEvent {
    fn event_type(&self) -> String {
        match self {
            Self::ChapterCreated { .. } => "ChapterCreated",
            Self::ChapterUpdated { .. } => "ChapterUpdated",
            Self::ChapterDeleted { .. } => "ChapterDeleted",
        }
        .to_string()
    }
    fn event_version(&self) -> String {
        "1".to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChapterError {
    #[error("chapter not found")]
    NotFound,
    #[error("chapter already exists")]
    AlreadyExists,
    #[error("comic not found")]
    ComicNotFound,
    #[error("a dependency is unavailable: {0}")]
    Unavailable(String),
}

/// Facts the Chapter aggregate needs from outside itself.
#[async_trait]
pub trait ChapterServices: Send + Sync {
    /// Whether the comic exists and is not deleted.
    async fn comic_is_live(&self, comic_id: Uuid) -> Result<bool, String>;
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Chapter {
    pub chapter: Option<NewChapter>,
    pub deleted: bool,
}

impl Chapter {
    fn live(&self) -> Result<&NewChapter, ChapterError> {
        match (&self.chapter, self.deleted) {
            (Some(c), false) => Ok(c),
            _ => Err(ChapterError::NotFound),
        }
    }

    /// The comic this chapter belongs to, if it was ever created.
    pub fn comic_id(&self) -> Option<Uuid> {
        self.chapter.as_ref().map(|c| c.comic_id)
    }

    /// The language and number this chapter holds, unless it is deleted.
    pub fn holds(&self) -> Option<(&Language, &ChapterNumber)> {
        self.live().ok().map(|c| (&c.language, &c.number))
    }
}

async fn require_live_comic(
    services: &dyn ChapterServices,
    comic_id: Uuid,
) -> Result<(), ChapterError> {
    match services.comic_is_live(comic_id).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(ChapterError::ComicNotFound),
        Err(e) => Err(ChapterError::Unavailable(e)),
    }
}

impl Aggregate for Chapter {
    const TYPE: &'static str = crate::aggregate_types::CHAPTER;
    type Command = ChapterCommand;
    type Event = ChapterEvent;
    type Error = ChapterError;
    type Services = Arc<dyn ChapterServices>;

    async fn handle(
        &mut self,
        command: ChapterCommand,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), ChapterError> {
        match command {
            ChapterCommand::Create {
                chapter_id,
                chapter,
            } => {
                if self.chapter.is_some() {
                    return Err(ChapterError::AlreadyExists);
                }
                require_live_comic(services.as_ref(), chapter.comic_id).await?;
                sink.write(
                    ChapterEvent::ChapterCreated {
                        chapter_id,
                        chapter,
                    },
                    self,
                )
                .await;
            }
            ChapterCommand::Update(changes) => {
                let current = self.live()?;
                require_live_comic(services.as_ref(), current.comic_id).await?;
                let changes = changes.against(current);
                if !changes.is_empty() {
                    sink.write(ChapterEvent::ChapterUpdated { changes }, self)
                        .await;
                }
            }
            ChapterCommand::Delete => {
                let comic_id = self.live()?.comic_id;
                require_live_comic(services.as_ref(), comic_id).await?;
                sink.write(ChapterEvent::ChapterDeleted { comic_id }, self)
                    .await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: ChapterEvent) {
        match event {
            ChapterEvent::ChapterCreated { chapter, .. } => self.chapter = Some(chapter),
            ChapterEvent::ChapterUpdated { changes } => {
                if let Some(c) = self.chapter.as_mut() {
                    if let Some(n) = changes.number {
                        c.number = n;
                    }
                    if let Some(t) = changes.title {
                        c.title = t;
                    }
                    if let Some(v) = changes.volume {
                        c.volume = v;
                    }
                    if let Some(p) = changes.published_at {
                        c.published_at = p;
                    }
                }
            }
            ChapterEvent::ChapterDeleted { .. } => self.deleted = true,
        }
    }
}

#[cfg(test)]
#[path = "chapter_tests.rs"]
mod tests;
