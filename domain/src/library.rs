//! The Library aggregate: one user's bookmarked comics. Its id is derived
//! from the user, so each user has exactly one library.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The id of `user`'s library: the same user always gives the same id.
pub fn library_id(user: &str) -> Uuid {
    Uuid::new_v5(
        &Uuid::NAMESPACE_OID,
        format!("comics-library:{user}").as_bytes(),
    )
}

#[derive(Debug, Clone, PartialEq)]
pub enum LibraryCommand {
    Bookmark { user: String, comic_id: Uuid },
    Unbookmark { user: String, comic_id: Uuid },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum LibraryEvent {
    ComicBookmarked { user: String, comic_id: Uuid },
    ComicUnbookmarked { user: String, comic_id: Uuid },
}

impl DomainEvent for LibraryEvent {
    fn event_type(&self) -> String {
        match self {
            Self::ComicBookmarked { .. } => "ComicBookmarked",
            Self::ComicUnbookmarked { .. } => "ComicUnbookmarked",
        }
        .to_string()
    }
    fn event_version(&self) -> String {
        "1".to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LibraryError {
    #[error("comic not found")]
    ComicNotFound,
    #[error("a dependency is unavailable: {0}")]
    Unavailable(String),
}

/// Facts the Library aggregate needs from outside itself.
#[async_trait]
pub trait LibraryServices: Send + Sync {
    /// Whether the comic exists and is not deleted.
    async fn comic_is_live(&self, comic_id: Uuid) -> Result<bool, String>;
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Library {
    pub bookmarks: BTreeSet<Uuid>,
}

impl Aggregate for Library {
    const TYPE: &'static str = crate::aggregate_types::LIBRARY;
    type Command = LibraryCommand;
    type Event = LibraryEvent;
    type Error = LibraryError;
    type Services = Arc<dyn LibraryServices>;

    async fn handle(
        &mut self,
        command: LibraryCommand,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), LibraryError> {
        match command {
            LibraryCommand::Bookmark { user, comic_id } => {
                match services.comic_is_live(comic_id).await {
                    Ok(true) => {}
                    Ok(false) => return Err(LibraryError::ComicNotFound),
                    Err(e) => return Err(LibraryError::Unavailable(e)),
                }
                if !self.bookmarks.contains(&comic_id) {
                    sink.write(LibraryEvent::ComicBookmarked { user, comic_id }, self)
                        .await;
                }
            }
            LibraryCommand::Unbookmark { user, comic_id } => {
                if self.bookmarks.contains(&comic_id) {
                    sink.write(LibraryEvent::ComicUnbookmarked { user, comic_id }, self)
                        .await;
                }
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: LibraryEvent) {
        match event {
            LibraryEvent::ComicBookmarked { comic_id, .. } => {
                self.bookmarks.insert(comic_id);
            }
            LibraryEvent::ComicUnbookmarked { comic_id, .. } => {
                self.bookmarks.remove(&comic_id);
            }
        }
    }
}

#[cfg(test)]
#[path = "library_tests.rs"]
mod tests;
