//! Given/when/then tests of the Library aggregate.

use super::*;
use cqrs_es::test::TestFramework;

// ---- fakes of the services ----

/// Answers `comic_is_live` from a fixed list of live comics.
struct LiveComics(Vec<Uuid>);

#[async_trait]
impl LibraryServices for LiveComics {
    async fn comic_is_live(&self, comic_id: Uuid) -> Result<bool, String> {
        Ok(self.0.contains(&comic_id))
    }
}

/// Cannot be reached.
struct Down;

#[async_trait]
impl LibraryServices for Down {
    async fn comic_is_live(&self, _: Uuid) -> Result<bool, String> {
        Err("comic store is down".into())
    }
}

/// Fails the test if the aggregate asks it anything.
struct NeverAsked;

#[async_trait]
impl LibraryServices for NeverAsked {
    async fn comic_is_live(&self, _: Uuid) -> Result<bool, String> {
        panic!("the aggregate should not have consulted its services")
    }
}

// ---- builders ----

const COMIC: Uuid = Uuid::from_u128(0xC0);
const OTHER_COMIC: Uuid = Uuid::from_u128(0xC1);
const USER: &str = "user-1";

fn library_with(services: impl LibraryServices + 'static) -> TestFramework<Library> {
    let services: Arc<dyn LibraryServices> = Arc::new(services);
    TestFramework::with(services)
}

/// A library where both comics are live.
fn library() -> TestFramework<Library> {
    library_with(LiveComics(vec![COMIC, OTHER_COMIC]))
}

fn bookmark(comic_id: Uuid) -> LibraryCommand {
    LibraryCommand::Bookmark {
        user: USER.into(),
        comic_id,
    }
}

fn unbookmark(comic_id: Uuid) -> LibraryCommand {
    LibraryCommand::Unbookmark {
        user: USER.into(),
        comic_id,
    }
}

fn bookmarked(comic_id: Uuid) -> LibraryEvent {
    LibraryEvent::ComicBookmarked {
        user: USER.into(),
        comic_id,
    }
}

fn unbookmarked(comic_id: Uuid) -> LibraryEvent {
    LibraryEvent::ComicUnbookmarked {
        user: USER.into(),
        comic_id,
    }
}

// ---- ids ----

#[test]
fn library_ids_are_deterministic_and_differ_per_user() {
    assert_eq!(library_id(USER), library_id(USER));
    assert_ne!(library_id(USER), library_id("user-2"));
    assert_eq!(library_id(USER).get_version_num(), 5);
    assert_eq!(
        library_id(USER),
        Uuid::new_v5(&Uuid::NAMESPACE_OID, b"comics-library:user-1")
    );
}

// ---- Bookmark ----

#[tokio::test]
async fn bookmarking_a_comic_emits_comic_bookmarked() {
    library()
        .given_no_previous_events()
        .when_async(bookmark(COMIC))
        .await
        .then_expect_events(vec![bookmarked(COMIC)]);
}

#[tokio::test]
async fn bookmarking_a_second_comic_emits_comic_bookmarked() {
    library()
        .given(vec![bookmarked(COMIC)])
        .when_async(bookmark(OTHER_COMIC))
        .await
        .then_expect_events(vec![bookmarked(OTHER_COMIC)]);
}

#[tokio::test]
async fn bookmarking_a_missing_or_deleted_comic_is_refused() {
    library_with(LiveComics(vec![OTHER_COMIC]))
        .given_no_previous_events()
        .when_async(bookmark(COMIC))
        .await
        .then_expect_error(LibraryError::ComicNotFound);
}

#[tokio::test]
async fn bookmarking_while_the_services_are_down_is_unavailable() {
    library_with(Down)
        .given_no_previous_events()
        .when_async(bookmark(COMIC))
        .await
        .then_expect_error(LibraryError::Unavailable("comic store is down".into()));
}

#[tokio::test]
async fn bookmarking_an_already_bookmarked_comic_emits_nothing() {
    library()
        .given(vec![bookmarked(COMIC)])
        .when_async(bookmark(COMIC))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn bookmarking_again_after_unbookmarking_emits_comic_bookmarked() {
    library()
        .given(vec![bookmarked(COMIC), unbookmarked(COMIC)])
        .when_async(bookmark(COMIC))
        .await
        .then_expect_events(vec![bookmarked(COMIC)]);
}

// ---- Unbookmark ----

#[tokio::test]
async fn unbookmarking_a_bookmarked_comic_emits_comic_unbookmarked() {
    library_with(NeverAsked)
        .given(vec![bookmarked(COMIC), bookmarked(OTHER_COMIC)])
        .when_async(unbookmark(COMIC))
        .await
        .then_expect_events(vec![unbookmarked(COMIC)]);
}

#[tokio::test]
async fn unbookmarking_a_comic_that_is_not_bookmarked_emits_nothing() {
    library_with(NeverAsked)
        .given(vec![bookmarked(OTHER_COMIC)])
        .when_async(unbookmark(COMIC))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn unbookmarking_in_an_empty_library_emits_nothing() {
    library_with(NeverAsked)
        .given_no_previous_events()
        .when_async(unbookmark(COMIC))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn unbookmarking_twice_emits_nothing_the_second_time() {
    library_with(NeverAsked)
        .given(vec![bookmarked(COMIC), unbookmarked(COMIC)])
        .when_async(unbookmark(COMIC))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn unbookmarking_a_since_deleted_comic_is_allowed() {
    library_with(LiveComics(vec![]))
        .given(vec![bookmarked(COMIC)])
        .when_async(unbookmark(COMIC))
        .await
        .then_expect_events(vec![unbookmarked(COMIC)]);
}

#[tokio::test]
async fn unbookmarking_never_refuses_even_when_the_services_are_down() {
    library_with(Down)
        .given(vec![bookmarked(COMIC)])
        .when_async(unbookmark(COMIC))
        .await
        .then_expect_events(vec![unbookmarked(COMIC)]);
}

// ---- serde ----

#[test]
fn library_events_survive_a_json_round_trip() {
    for event in [bookmarked(COMIC), unbookmarked(OTHER_COMIC)] {
        let json = serde_json::to_value(&event).unwrap();
        let back: LibraryEvent = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, event, "{json}");
    }
}

#[test]
fn the_bookmark_set_survives_a_json_round_trip() {
    let mut library = Library::default();
    library.apply(bookmarked(OTHER_COMIC));
    library.apply(bookmarked(COMIC));
    library.apply(unbookmarked(OTHER_COMIC));
    let json = serde_json::to_value(&library).unwrap();
    let back: Library = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back.bookmarks, BTreeSet::from([COMIC]), "{json}");
}
