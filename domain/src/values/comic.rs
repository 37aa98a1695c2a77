//! Value types of a comic's catalog entry.

use super::{bounded_text, FieldError};
use serde::{Deserialize, Serialize};

/// A comic's title: 1–200 characters after trimming.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ComicTitle(String);

impl ComicTitle {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        bounded_text("title", raw, 1, 200).map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A comic's description: at most 5000 characters after trimming.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Description(String);

impl Description {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        bounded_text("description", raw, 0, 5000).map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A list of names (authors, artists, alternative titles): at most 20 entries
/// of 1–200 characters each, duplicates removed, order kept.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NameList(Vec<String>);

impl NameList {
    pub fn parse(field: &str, raw: &[String]) -> Result<Self, FieldError> {
        if raw.len() > 20 {
            return Err(FieldError::new(field, "must have at most 20 entries"));
        }
        let mut names: Vec<String> = Vec::with_capacity(raw.len());
        for (i, entry) in raw.iter().enumerate() {
            let name = bounded_text(&format!("{field}[{i}]"), entry, 1, 200)?;
            if !names.contains(&name) {
                names.push(name);
            }
        }
        Ok(Self(names))
    }
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

/// A genre slug: `[a-z0-9-]{1,40}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Genre(String);

impl Genre {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let ok = (1..=40).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Self(raw.to_string()))
        } else {
            Err(FieldError::new(
                field,
                "must be a slug of 1-40 characters from a-z, 0-9 and -",
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A comic's genres: at most 20 distinct slugs, sorted.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Genres(Vec<Genre>);

impl Genres {
    pub fn parse(raw: &[String]) -> Result<Self, FieldError> {
        if raw.len() > 20 {
            return Err(FieldError::new("genres", "must have at most 20 entries"));
        }
        let mut genres = raw
            .iter()
            .enumerate()
            .map(|(i, g)| Genre::parse(&format!("genres[{i}]"), g))
            .collect::<Result<Vec<_>, _>>()?;
        genres.sort();
        genres.dedup();
        Ok(Self(genres))
    }
    pub fn as_slice(&self) -> &[Genre] {
        &self.0
    }
}

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident, $field:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name {
            #[default]
            $($variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn parse(raw: &str) -> Result<Self, FieldError> {
                match raw {
                    $($text => Ok($name::$variant),)+
                    _ => Err(FieldError::new(
                        $field,
                        concat!("must be one of: ", $($text, " "),+).trim_end().to_string(),
                    )),
                }
            }

            pub fn as_str(&self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }
    };
}

string_enum!(
    /// Publication status; `ongoing` by default.
    ComicStatus, "status", {
        Ongoing => "ongoing",
        Completed => "completed",
        Hiatus => "hiatus",
        Cancelled => "cancelled",
    }
);

string_enum!(
    /// Kind of comic; `manga` by default.
    ComicType, "type", {
        Manga => "manga",
        Manhwa => "manhwa",
        Manhua => "manhua",
        Webtoon => "webtoon",
        Comic => "comic",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_title_is_trimmed_and_bounded() {
        assert_eq!(ComicTitle::parse("  Solo  ").unwrap().as_str(), "Solo");
        assert!(ComicTitle::parse("   ").is_err());
        assert!(ComicTitle::parse(&"x".repeat(200)).is_ok());
        assert!(ComicTitle::parse(&"x".repeat(201)).is_err());
        assert!(ComicTitle::parse(&"가".repeat(200)).is_ok());
    }

    #[test]
    fn genres_are_slugs_sorted_and_unique() {
        let g = Genres::parse(&["fantasy".into(), "action".into(), "fantasy".into()]).unwrap();
        let names: Vec<_> = g.as_slice().iter().map(Genre::as_str).collect();
        assert_eq!(names, ["action", "fantasy"]);
        assert_eq!(
            Genres::parse(&["Action".into()]).unwrap_err().field,
            "genres[0]"
        );
        assert!(Genres::parse(&vec!["a".to_string(); 21]).is_err());
    }

    #[test]
    fn name_lists_are_bounded() {
        assert!(NameList::parse("authors", &vec!["a".to_string(); 21]).is_err());
        let err = NameList::parse("authors", &["ok".into(), " ".into()]).unwrap_err();
        assert_eq!(err.field, "authors[1]");
    }

    #[test]
    fn status_and_type_parse_known_words_only() {
        assert_eq!(ComicStatus::parse("hiatus").unwrap(), ComicStatus::Hiatus);
        assert!(ComicStatus::parse("Hiatus").is_err());
        assert_eq!(ComicType::default(), ComicType::Manga);
        assert!(ComicType::parse("novel")
            .unwrap_err()
            .message
            .contains("manhwa"));
    }

    #[test]
    fn description_may_be_empty_but_not_too_long() {
        assert!(Description::parse("").is_ok());
        assert!(Description::parse(&"d".repeat(5001)).is_err());
    }
}
