//! The registry of read models: each projection's name, the Postgres schema
//! that holds its query store, and the aggregate types it follows. Shared by
//! the projectors (which write it) and the query service (which reads it and
//! waits on it for the consistency token).

/// Postgres channel on which a projection announces, when a batch commits,
/// that its rows changed (the payload is its name); read caches listen.
pub const CHANGED_CHANNEL: &str = "comics_projection_changed";

use comics_domain::aggregate_types::{
    CHAPTER, COMIC, LIBRARY, PAGE, POPULARITY as VIEWS_RECORDED, PREMIUM_PLAN, RATING,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProjectionInfo {
    pub name: &'static str,
    pub schema: &'static str,
    pub aggregate_types: &'static [&'static str],
}

/// Comics (each document whole: with its votes, views, bookmarks and
/// cover), chapters (with their pages) and genres.
pub const CATALOG: ProjectionInfo = ProjectionInfo {
    name: "catalog",
    schema: "catalog",
    aggregate_types: &[COMIC, CHAPTER, PAGE, RATING, LIBRARY, VIEWS_RECORDED],
};

/// Rating statistics, each user's ratings, and the comic cards that
/// rating reads show.
pub const RATINGS: ProjectionInfo = ProjectionInfo {
    name: "ratings",
    schema: "ratings",
    aggregate_types: &[COMIC, RATING],
};

/// Each user's bookmarks and each comic's bookmark count.
pub const BOOKMARKS: ProjectionInfo = ProjectionInfo {
    name: "bookmarks",
    schema: "bookmarks",
    aggregate_types: &[COMIC, LIBRARY],
};

/// Views per comic, all time and per minute, for windows and rankings.
pub const POPULARITY: ProjectionInfo = ProjectionInfo {
    name: "popularity",
    schema: "popularity",
    aggregate_types: &[COMIC, VIEWS_RECORDED],
};

/// The premium plans on sale.
pub const PLANS: ProjectionInfo = ProjectionInfo {
    name: "plans",
    schema: "plans",
    aggregate_types: &[PREMIUM_PLAN],
};

/// The cover thumbnails (`GET /comics/{id}/cover?size=`): made from each
/// cover's event, stored in object storage, one row per comic and width.
pub const THUMBNAILS: ProjectionInfo = ProjectionInfo {
    name: "thumbnails",
    schema: "thumbnails",
    aggregate_types: &[COMIC],
};

pub const ALL: &[ProjectionInfo] = &[CATALOG, RATINGS, BOOKMARKS, POPULARITY, PLANS, THUMBNAILS];

pub fn by_name(name: &str) -> Option<ProjectionInfo> {
    ALL.iter().copied().find(|p| p.name == name)
}

/// What one committed batch of a projection changed, as read caches need to
/// know it: announced on [`CHANGED_CHANNEL`] with the commit.
///
/// `comics` names every comic whose own answers (document, stats, chapters)
/// may differ; `shared` says that figures every comic's answer shows changed
/// too (the ratings' global mean behind each Bayesian average); `deleted`
/// that a comic was deleted (gone from every collection at once); `all` that
/// anything may have changed (a rebuild swapped in, too many comics to name,
/// or an announcement without details).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub comics: Vec<uuid::Uuid>,
    pub shared: bool,
    pub deleted: bool,
    pub all: bool,
}

/// Postgres refuses NOTIFY payloads of 8000 bytes or more.
const MAX_PAYLOAD: usize = 7800;

impl Changes {
    /// Everything may have changed.
    pub fn everything() -> Self {
        Self {
            all: true,
            ..Self::default()
        }
    }

    /// Whether there is nothing to announce.
    pub fn is_empty(&self) -> bool {
        self.comics.is_empty() && !self.shared && !self.deleted && !self.all
    }

    /// The NOTIFY payload: `<projection>;<flags>;<id>,<id>…`, flags from
    /// `a` (all), `d` (deleted), `s` (shared); `all` when the ids would not fit.
    pub fn to_payload(&self, projection: &str) -> String {
        let mut flags = String::new();
        let all = self.all || projection.len() + 8 + self.comics.len() * 37 > MAX_PAYLOAD;
        for (on, flag) in [(all, 'a'), (self.deleted, 'd'), (self.shared, 's')] {
            if on {
                flags.push(flag);
            }
        }
        let ids = if all {
            String::new()
        } else {
            let ids: Vec<String> = self.comics.iter().map(|id| id.to_string()).collect();
            ids.join(",")
        };
        format!("{projection};{flags};{ids}")
    }

    /// The projection and its changes from a payload; a payload that is just
    /// a projection's name (or unreadable past it) means everything changed.
    pub fn parse(payload: &str) -> (&str, Self) {
        let mut parts = payload.splitn(3, ';');
        let name = parts.next().unwrap_or_default();
        let (Some(flags), Some(ids)) = (parts.next(), parts.next()) else {
            return (name, Self::everything());
        };
        let comics: Result<Vec<uuid::Uuid>, _> = ids
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::parse)
            .collect();
        let Ok(comics) = comics else {
            return (name, Self::everything());
        };
        let changes = Self {
            comics,
            shared: flags.contains('s'),
            deleted: flags.contains('d'),
            all: flags.contains('a'),
        };
        (name, changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_survive_their_payload() {
        let changes = Changes {
            comics: vec![uuid::Uuid::now_v7(), uuid::Uuid::now_v7()],
            shared: true,
            deleted: true,
            all: false,
        };
        let payload = changes.to_payload("ratings");
        assert_eq!(Changes::parse(&payload), ("ratings", changes));
        assert_eq!(
            Changes::parse("catalog"),
            ("catalog", Changes::everything())
        );
        assert_eq!(
            Changes::parse("catalog;;not-a-uuid"),
            ("catalog", Changes::everything())
        );
    }

    #[test]
    fn too_many_comics_to_name_is_everything() {
        let changes = Changes {
            comics: (0..300).map(|_| uuid::Uuid::now_v7()).collect(),
            ..Changes::default()
        };
        let payload = changes.to_payload("popularity");
        assert!(payload.len() < 8000);
        assert_eq!(Changes::parse(&payload).1, Changes::everything());
    }
}
