//! Validated value types: each `parse` either returns a value that keeps every
//! rule of the API contract or a [`FieldError`] naming the field and the rule.

mod chapter;
mod comic;
mod image;
mod plan;
mod rating;
mod search;

pub use chapter::{ChapterNumber, ChapterTitle, Language, Volume};
pub use comic::{ComicStatus, ComicTitle, ComicType, Description, Genre, Genres, NameList};
pub use image::{dimensions, Image, ImageRefusal, ImageType, MAX_SIDE};
pub use plan::{BillingInterval, Currency, Perk, Perks, PlanDescription, PlanName, PriceCents};
pub use rating::Score;
pub use search::{normalize, query_grams, SearchText, TITLE_SEPARATOR};

use serde::Serialize;

/// A rule broken by one input field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}

/// Trims `raw` and checks that it has between `min` and `max` characters.
pub(crate) fn bounded_text(
    field: &str,
    raw: &str,
    min: usize,
    max: usize,
) -> Result<String, FieldError> {
    let trimmed = raw.trim();
    let len = trimmed.chars().count();
    if len < min {
        return Err(FieldError::new(
            field,
            if min == 1 {
                "must not be empty".to_string()
            } else {
                format!("must have at least {min} characters")
            },
        ));
    }
    if len > max {
        return Err(FieldError::new(
            field,
            format!("must have at most {max} characters"),
        ));
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(trimmed.to_string())
}
