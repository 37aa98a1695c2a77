//! The registry of read models: each projection's name, the Postgres schema
//! that holds its query store, and the aggregate types it follows. Shared by
//! the projectors (which write it) and the query service (which reads it and
//! waits on it for the consistency token).

/// Postgres channel on which a projection announces, when a batch commits,
/// that its rows changed (the payload is its name); read caches listen.
pub const CHANGED_CHANNEL: &str = "comics_projection_changed";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProjectionInfo {
    pub name: &'static str,
    pub schema: &'static str,
    pub aggregate_types: &'static [&'static str],
}

/// Comics, chapters and genres.
pub const CATALOG: ProjectionInfo = ProjectionInfo {
    name: "catalog",
    schema: "catalog",
    aggregate_types: &["Comic", "Chapter"],
};

/// Rating statistics, each user's ratings, and the comic cards that
/// rating reads show.
pub const RATINGS: ProjectionInfo = ProjectionInfo {
    name: "ratings",
    schema: "ratings",
    aggregate_types: &["Comic", "Rating"],
};

/// Each user's bookmarks and each comic's bookmark count.
pub const BOOKMARKS: ProjectionInfo = ProjectionInfo {
    name: "bookmarks",
    schema: "bookmarks",
    aggregate_types: &["Comic", "Library"],
};

/// Views per comic, all time and per minute, for windows and rankings.
pub const POPULARITY: ProjectionInfo = ProjectionInfo {
    name: "popularity",
    schema: "popularity",
    aggregate_types: &["Comic", "Popularity"],
};

pub const ALL: &[ProjectionInfo] = &[CATALOG, RATINGS, BOOKMARKS, POPULARITY];

pub fn by_name(name: &str) -> Option<ProjectionInfo> {
    ALL.iter().copied().find(|p| p.name == name)
}
