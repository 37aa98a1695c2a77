//! The Page aggregate: the pages of one chapter, keyed by the chapter's id
//! (one aggregate per chapter's page list, so appending several pages is one
//! decision and one commit: all or nothing). Its events carry only the
//! metadata of bytes already in object storage, never the bytes.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::values::Image;

#[derive(Debug, Clone, PartialEq)]
pub enum PageCommand {
    /// Store page `number` (≥ 1): a new page, or a replacement.
    Put {
        chapter_id: Uuid,
        number: u32,
        image: Image,
    },
    /// Append pages after the last one, in order.
    Append {
        chapter_id: Uuid,
        images: Vec<Image>,
    },
    /// Remove page `number`; later pages keep their numbers.
    Remove { chapter_id: Uuid, number: u32 },
    /// Remove every page (none: nothing happens).
    RemoveAll { chapter_id: Uuid },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PageEvent {
    PageAdded {
        comic_id: Uuid,
        number: u32,
        image: Image,
    },
    PageReplaced {
        comic_id: Uuid,
        number: u32,
        image: Image,
    },
    PageRemoved {
        comic_id: Uuid,
        number: u32,
    },
    PagesCleared {
        comic_id: Uuid,
    },
}

impl DomainEvent for PageEvent {
    fn event_type(&self) -> String {
        match self {
            Self::PageAdded { .. } => "PageAdded",
            Self::PageReplaced { .. } => "PageReplaced",
            Self::PageRemoved { .. } => "PageRemoved",
            Self::PagesCleared { .. } => "PagesCleared",
        }
        .to_string()
    }
    fn event_version(&self) -> String {
        "1".to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error("chapter not found")]
    ChapterNotFound,
    #[error("page not found")]
    PageNotFound,
    #[error("page numbers start at 1")]
    BadNumber,
    #[error("no pages to append")]
    NothingToAppend,
    #[error("a dependency is unavailable: {0}")]
    Unavailable(String),
}

/// Facts the Page aggregate needs from outside itself.
#[async_trait]
pub trait PageServices: Send + Sync {
    /// The comic of chapter `chapter_id` if the chapter and its comic are
    /// both there (created, not deleted).
    async fn live_chapter(&self, chapter_id: Uuid) -> Result<Option<Uuid>, String>;
}

/// A chapter's pages by number.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Page {
    pub pages: BTreeMap<u32, Image>,
}

impl Page {
    /// The number an appended page takes: one after the last page.
    pub fn next_number(&self) -> u32 {
        self.pages.keys().next_back().map_or(1, |n| n + 1)
    }

    async fn put(
        &mut self,
        services: &dyn PageServices,
        chapter_id: Uuid,
        number: u32,
        image: Image,
        sink: &EventSink<Self>,
    ) -> Result<(), PageError> {
        if number < 1 {
            return Err(PageError::BadNumber);
        }
        let comic_id = live_comic(services, chapter_id).await?;
        let event = match self.pages.get(&number) {
            Some(old) if *old == image => return Ok(()),
            Some(_) => PageEvent::PageReplaced {
                comic_id,
                number,
                image,
            },
            None => PageEvent::PageAdded {
                comic_id,
                number,
                image,
            },
        };
        sink.write(event, self).await;
        Ok(())
    }

    async fn append(
        &mut self,
        services: &dyn PageServices,
        chapter_id: Uuid,
        images: Vec<Image>,
        sink: &EventSink<Self>,
    ) -> Result<(), PageError> {
        if images.is_empty() {
            return Err(PageError::NothingToAppend);
        }
        let comic_id = live_comic(services, chapter_id).await?;
        for image in images {
            let number = self.next_number();
            let event = PageEvent::PageAdded {
                comic_id,
                number,
                image,
            };
            sink.write(event, self).await;
        }
        Ok(())
    }

    async fn remove(
        &mut self,
        services: &dyn PageServices,
        chapter_id: Uuid,
        number: u32,
        sink: &EventSink<Self>,
    ) -> Result<(), PageError> {
        let comic_id = live_comic(services, chapter_id).await?;
        if !self.pages.contains_key(&number) {
            return Err(PageError::PageNotFound);
        }
        sink.write(PageEvent::PageRemoved { comic_id, number }, self)
            .await;
        Ok(())
    }

    async fn remove_all(
        &mut self,
        services: &dyn PageServices,
        chapter_id: Uuid,
        sink: &EventSink<Self>,
    ) -> Result<(), PageError> {
        let comic_id = live_comic(services, chapter_id).await?;
        if !self.pages.is_empty() {
            sink.write(PageEvent::PagesCleared { comic_id }, self).await;
        }
        Ok(())
    }
}

async fn live_comic(services: &dyn PageServices, chapter_id: Uuid) -> Result<Uuid, PageError> {
    match services.live_chapter(chapter_id).await {
        Ok(Some(comic_id)) => Ok(comic_id),
        Ok(None) => Err(PageError::ChapterNotFound),
        Err(e) => Err(PageError::Unavailable(e)),
    }
}

impl Aggregate for Page {
    const TYPE: &'static str = crate::aggregate_types::PAGE;
    type Command = PageCommand;
    type Event = PageEvent;
    type Error = PageError;
    type Services = Arc<dyn PageServices>;

    async fn handle(
        &mut self,
        command: PageCommand,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), PageError> {
        let services = services.as_ref();
        match command {
            PageCommand::Put {
                chapter_id,
                number,
                image,
            } => self.put(services, chapter_id, number, image, sink).await,
            PageCommand::Append { chapter_id, images } => {
                self.append(services, chapter_id, images, sink).await
            }
            PageCommand::Remove { chapter_id, number } => {
                self.remove(services, chapter_id, number, sink).await
            }
            PageCommand::RemoveAll { chapter_id } => {
                self.remove_all(services, chapter_id, sink).await
            }
        }
    }

    fn apply(&mut self, event: PageEvent) {
        match event {
            PageEvent::PageAdded { number, image, .. }
            | PageEvent::PageReplaced { number, image, .. } => {
                self.pages.insert(number, image);
            }
            PageEvent::PageRemoved { number, .. } => {
                self.pages.remove(&number);
            }
            PageEvent::PagesCleared { .. } => self.pages.clear(),
        }
    }
}

#[cfg(test)]
#[path = "page_tests.rs"]
mod tests;
