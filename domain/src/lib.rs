//! The comics platform's write model: aggregates, their commands, events and
//! errors, and the validated value types that make a command valid by
//! construction. Pure: no I/O, no framework types beyond cqrs-es's traits.
#![forbid(unsafe_code)]

pub mod chapter;
pub mod comic;
pub mod library;
pub mod page;
pub mod plan;
pub mod popularity;
pub mod rating;
mod serde_util;
pub mod values;

pub use chapter::{Chapter, ChapterCommand, ChapterError, ChapterEvent, ChapterServices};
pub use comic::{Comic, ComicCommand, ComicError, ComicEvent, ComicServices};
pub use library::{
    library_id, Library, LibraryCommand, LibraryError, LibraryEvent, LibraryServices,
};
pub use page::{Page, PageCommand, PageError, PageEvent, PageServices};
pub use plan::{PlanCommand, PlanError, PlanEvent, PremiumPlan};
pub use popularity::{
    MinuteCount, Popularity, PopularityCommand, PopularityError, PopularityEvent, View,
};
pub use rating::{rating_id, Rating, RatingCommand, RatingError, RatingEvent, RatingServices};

/// The name every aggregate type is stored under in the event log.
pub mod aggregate_types {
    pub const COMIC: &str = "Comic";
    pub const CHAPTER: &str = "Chapter";
    pub const RATING: &str = "Rating";
    pub const LIBRARY: &str = "Library";
    pub const POPULARITY: &str = "Popularity";
    pub const PREMIUM_PLAN: &str = "PremiumPlan";
    pub const PAGE: &str = "Page";
}
