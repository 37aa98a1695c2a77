//! A comic's writable fields, and a change to some of them.

use serde::{Deserialize, Serialize};

use crate::values::{ComicStatus, ComicTitle, ComicType, Description, Genres, NameList};

/// The writable fields of a comic, all validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComicDetails {
    pub title: ComicTitle,
    #[serde(default)]
    pub alt_titles: NameList,
    #[serde(default)]
    pub description: Description,
    #[serde(default)]
    pub authors: NameList,
    #[serde(default)]
    pub artists: NameList,
    #[serde(default)]
    pub status: ComicStatus,
    #[serde(rename = "type", default)]
    pub comic_type: ComicType,
    #[serde(default)]
    pub genres: Genres,
}

/// A change to some of a comic's writable fields; `None` leaves a field as is.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ComicChanges {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<ComicTitle>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt_titles: Option<NameList>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Description>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authors: Option<NameList>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artists: Option<NameList>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ComicStatus>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub comic_type: Option<ComicType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genres: Option<Genres>,
}

impl ComicChanges {
    /// Keeps only the fields that differ from `current`.
    pub(super) fn against(self, current: &ComicDetails) -> Self {
        fn keep<T: PartialEq>(new: Option<T>, old: &T) -> Option<T> {
            new.filter(|v| v != old)
        }
        Self {
            title: keep(self.title, &current.title),
            alt_titles: keep(self.alt_titles, &current.alt_titles),
            description: keep(self.description, &current.description),
            authors: keep(self.authors, &current.authors),
            artists: keep(self.artists, &current.artists),
            status: keep(self.status, &current.status),
            comic_type: keep(self.comic_type, &current.comic_type),
            genres: keep(self.genres, &current.genres),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// This change followed by `later`, as one change: a field `later`
    /// sets is its value, the others are this change's. Applying the result
    /// gives what applying both in turn gives (projectors fold runs of
    /// updates to one comic with it).
    pub fn then(self, later: Self) -> Self {
        Self {
            title: later.title.or(self.title),
            alt_titles: later.alt_titles.or(self.alt_titles),
            description: later.description.or(self.description),
            authors: later.authors.or(self.authors),
            artists: later.artists.or(self.artists),
            status: later.status.or(self.status),
            comic_type: later.comic_type.or(self.comic_type),
            genres: later.genres.or(self.genres),
        }
    }

    pub(super) fn apply_to(self, d: &mut ComicDetails) {
        macro_rules! set {
            ($($f:ident),+) => { $(if let Some(v) = self.$f { d.$f = v; })+ };
        }
        set!(
            title,
            alt_titles,
            description,
            authors,
            artists,
            status,
            comic_type,
            genres
        );
    }
}
