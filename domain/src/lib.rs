//! The comics platform's write model: aggregates, their commands, events and
//! errors, and the validated value types that make a command valid by
//! construction. Pure: no I/O, no framework types beyond cqrs-es's traits.
#![forbid(unsafe_code)]

pub mod chapter;
pub mod comic;
mod serde_util;
pub mod values;

pub use chapter::{Chapter, ChapterCommand, ChapterError, ChapterEvent, ChapterServices};
pub use comic::{Comic, ComicCommand, ComicError, ComicEvent, ComicServices};

/// The name every aggregate type is stored under in the event log.
pub mod aggregate_types {
    pub const COMIC: &str = "Comic";
    pub const CHAPTER: &str = "Chapter";
}
