//! The write side's wiring: every aggregate's event store, handle and group
//! committer, made once per process and shared by the command handlers.

use std::sync::Arc;

use axum::extract::FromRef;
use comics_common::auth::Jwt;
use comics_domain::{Chapter, Comic, Library, Page, Popularity, PremiumPlan, Rating};
use comics_storage::Storage;
use sqlx::PgPool;

use crate::facts::{ChapterFacts, ComicFacts, PageFacts, RoundComics};
use crate::group_commit::GroupCommit;
use crate::handle::Handle;
use crate::locks::ComicLocks;
use crate::page_puts::PagePuts;
use crate::popularity::intake::ViewIntake;
use crate::store::Store;

/// Everything a command handler needs.
#[derive(Clone)]
pub struct CommandState {
    pub pool: PgPool,
    pub stores: Arc<Stores>,
    /// Commands on a comic and its chapters, one at a time per comic.
    pub comic_locks: ComicLocks,
    /// Page uploads waiting for their chapter's next commit.
    pub page_puts: Arc<PagePuts>,
    pub jwt: Arc<Jwt>,
    /// Where accepted views go (absent: `POST .../views` answers 503).
    pub views: Option<Arc<ViewIntake>>,
    /// Where uploaded images go (absent: uploads answer 503).
    pub storage: Option<Storage>,
}

impl CommandState {
    pub fn new(pool: PgPool, jwt: Arc<Jwt>) -> Self {
        let stores = Arc::new(Stores::new(pool.clone()));
        let comic_locks = ComicLocks::new(pool.clone());
        Self {
            page_puts: Arc::new(PagePuts::new(stores.pages.clone(), comic_locks.clone())),
            stores,
            comic_locks,
            pool,
            jwt,
            views: None,
            storage: None,
        }
    }

    /// Stores uploaded images in `storage`.
    pub fn with_storage(mut self, storage: Storage) -> Self {
        self.storage = Some(storage);
        self
    }

    /// Accepts views into the JetStream views stream.
    pub fn with_views(
        mut self,
        js: async_nats::jetstream::Context,
        names: comics_nats::Names,
    ) -> Self {
        self.views = Some(Arc::new(ViewIntake::new(js, names)));
        self
    }
}

impl FromRef<CommandState> for Arc<Jwt> {
    fn from_ref(state: &CommandState) -> Self {
        state.jwt.clone()
    }
}

/// Each aggregate type's way in: a handle (comics, chapters, plans), a group
/// committer (ratings, bookmarks) or the bare store (popularity, which the
/// view recorder writes).
pub struct Stores {
    pub comics: Handle<Comic>,
    pub chapters: Handle<Chapter>,
    pub pages: Arc<Handle<Page>>,
    /// Whether a chapter (and its comic) is live, for page commands.
    pub page_facts: Arc<PageFacts>,
    /// Rating commands, committed in groups.
    pub rating_commits: GroupCommit<Rating>,
    /// Bookmark commands, committed in groups.
    pub bookmark_commits: GroupCommit<Library>,
    pub popularity: Store<Popularity>,
    pub plans: Handle<PremiumPlan>,
}

impl Stores {
    pub fn new(pool: PgPool) -> Self {
        // One copy of each comic and chapter for the commands and for the
        // questions other aggregates ask about them.
        let comics = Arc::new(Store::new(&pool));
        let chapters = Arc::new(Store::new(&pool));
        let facts = Arc::new(ComicFacts(comics.clone()));
        let rating_commits = GroupCommit::start(
            Arc::new(Store::new(&pool)),
            RoundComics::ratings(facts.clone()),
        );
        let bookmark_commits = GroupCommit::start(
            Arc::new(Store::new(&pool)),
            RoundComics::bookmarks(facts.clone()),
        );
        let page_facts = Arc::new(PageFacts {
            chapters: chapters.clone(),
            comics: facts.clone(),
        });
        Self {
            comics: Handle::new(comics, Arc::new(ChapterFacts(chapters.clone()))),
            pages: Arc::new(Handle::new(Arc::new(Store::new(&pool)), page_facts.clone())),
            page_facts,
            chapters: Handle::new(chapters, facts),
            rating_commits,
            bookmark_commits,
            popularity: Store::new(&pool),
            plans: Handle::new(Arc::new(Store::new(&pool)), ()),
        }
    }
}
