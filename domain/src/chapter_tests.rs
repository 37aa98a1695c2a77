//! Given/when/then tests of the Chapter aggregate.

use super::*;
use chrono::TimeZone;
use cqrs_es::test::TestFramework;

// ---- fakes of the services ----

/// Answers `comic_is_live` from a fixed list of live comics.
struct LiveComics(Vec<Uuid>);

#[async_trait]
impl ChapterServices for LiveComics {
    async fn comic_is_live(&self, comic_id: Uuid) -> Result<bool, String> {
        Ok(self.0.contains(&comic_id))
    }
}

/// Cannot be reached.
struct Down;

#[async_trait]
impl ChapterServices for Down {
    async fn comic_is_live(&self, _: Uuid) -> Result<bool, String> {
        Err("comic store is down".into())
    }
}

/// Fails the test if the aggregate asks it anything.
struct NeverAsked;

#[async_trait]
impl ChapterServices for NeverAsked {
    async fn comic_is_live(&self, _: Uuid) -> Result<bool, String> {
        panic!("the aggregate should not have consulted its services")
    }
}

// ---- builders ----

const COMIC: Uuid = Uuid::from_u128(0xC0);
const CHAPTER: Uuid = Uuid::from_u128(0xA);

fn chapter_with(services: impl ChapterServices + 'static) -> TestFramework<Chapter> {
    let services: Arc<dyn ChapterServices> = Arc::new(services);
    TestFramework::with(services)
}

/// A chapter of a comic that is live.
fn chapter() -> TestFramework<Chapter> {
    chapter_with(LiveComics(vec![COMIC]))
}

/// A chapter of a comic that is deleted (or never existed).
fn chapter_of_a_deleted_comic() -> TestFramework<Chapter> {
    chapter_with(LiveComics(vec![]))
}

fn at(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, day, 12, 0, 0).unwrap()
}

fn title(raw: &str) -> ChapterTitle {
    ChapterTitle::parse(raw).unwrap()
}

fn num(raw: &str) -> ChapterNumber {
    ChapterNumber::parse(raw).unwrap()
}

fn new_chapter(number: &str) -> NewChapter {
    NewChapter {
        comic_id: COMIC,
        number: num(number),
        language: Language::parse("en").unwrap(),
        title: Some(title("The Awakening")),
        volume: None,
        published_at: at(1),
    }
}

fn created(number: &str) -> ChapterEvent {
    ChapterEvent::ChapterCreated {
        chapter_id: CHAPTER,
        chapter: new_chapter(number),
    }
}

fn deleted() -> ChapterEvent {
    ChapterEvent::ChapterDeleted { comic_id: COMIC }
}

fn update(changes: ChapterChanges) -> ChapterCommand {
    ChapterCommand::Update(changes)
}

// ---- Create ----

#[tokio::test]
async fn creating_a_chapter_emits_chapter_created() {
    chapter()
        .given_no_previous_events()
        .when_async(ChapterCommand::Create {
            chapter_id: CHAPTER,
            chapter: new_chapter("1"),
        })
        .await
        .then_expect_events(vec![created("1")]);
}

#[tokio::test]
async fn creating_a_chapter_that_already_exists_is_refused() {
    chapter()
        .given(vec![created("1")])
        .when_async(ChapterCommand::Create {
            chapter_id: CHAPTER,
            chapter: new_chapter("2"),
        })
        .await
        .then_expect_error(ChapterError::AlreadyExists);
}

#[tokio::test]
async fn recreating_a_deleted_chapter_is_refused() {
    chapter()
        .given(vec![created("1"), deleted()])
        .when_async(ChapterCommand::Create {
            chapter_id: CHAPTER,
            chapter: new_chapter("1"),
        })
        .await
        .then_expect_error(ChapterError::AlreadyExists);
}

#[tokio::test]
async fn creating_a_chapter_on_a_deleted_comic_is_refused() {
    chapter_of_a_deleted_comic()
        .given_no_previous_events()
        .when_async(ChapterCommand::Create {
            chapter_id: CHAPTER,
            chapter: new_chapter("1"),
        })
        .await
        .then_expect_error(ChapterError::ComicNotFound);
}

#[tokio::test]
async fn creating_a_chapter_while_the_services_are_down_is_unavailable() {
    chapter_with(Down)
        .given_no_previous_events()
        .when_async(ChapterCommand::Create {
            chapter_id: CHAPTER,
            chapter: new_chapter("1"),
        })
        .await
        .then_expect_error(ChapterError::Unavailable("comic store is down".into()));
}

// ---- Update ----

#[tokio::test]
async fn updating_a_chapter_emits_only_the_fields_that_changed() {
    let changes = ChapterChanges {
        number: Some(num("1")),                    // unchanged
        title: Some(Some(title("The Awakening"))), // unchanged
        volume: Some(Some(Volume::parse("2b").unwrap())),
        published_at: Some(at(2)),
    };
    let expected = ChapterChanges {
        volume: Some(Some(Volume::parse("2b").unwrap())),
        published_at: Some(at(2)),
        ..ChapterChanges::default()
    };
    chapter()
        .given(vec![created("1")])
        .when_async(update(changes))
        .await
        .then_expect_events(vec![ChapterEvent::ChapterUpdated { changes: expected }]);
}

#[tokio::test]
async fn renumbering_a_chapter_emits_the_new_number() {
    let changes = ChapterChanges {
        number: Some(num("2")),
        ..ChapterChanges::default()
    };
    chapter()
        .given(vec![created("1")])
        .when_async(update(changes.clone()))
        .await
        .then_expect_events(vec![ChapterEvent::ChapterUpdated { changes }]);
}

#[tokio::test]
async fn clearing_a_chapters_title_emits_a_cleared_title() {
    let changes = ChapterChanges {
        title: Some(None),
        ..ChapterChanges::default()
    };
    chapter()
        .given(vec![created("1")])
        .when_async(update(changes.clone()))
        .await
        .then_expect_events(vec![ChapterEvent::ChapterUpdated { changes }]);
}

#[tokio::test]
async fn clearing_a_title_that_is_already_cleared_emits_nothing() {
    let clear = ChapterChanges {
        title: Some(None),
        ..ChapterChanges::default()
    };
    chapter()
        .given(vec![
            created("1"),
            ChapterEvent::ChapterUpdated {
                changes: clear.clone(),
            },
        ])
        .when_async(update(clear))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn updating_a_chapter_with_its_current_values_emits_nothing() {
    let changes = ChapterChanges {
        number: Some(num("01.0")),
        title: Some(Some(title("The Awakening"))),
        volume: Some(None),
        published_at: Some(at(1)),
    };
    chapter()
        .given(vec![created("1")])
        .when_async(update(changes))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn an_empty_chapter_update_emits_nothing() {
    chapter()
        .given(vec![created("1")])
        .when_async(update(ChapterChanges::default()))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn an_update_is_compared_with_the_chapter_as_already_updated() {
    let changes = ChapterChanges {
        number: Some(num("2")),
        volume: Some(Some(Volume::parse("1").unwrap())),
        published_at: Some(at(3)),
        ..ChapterChanges::default()
    };
    chapter()
        .given(vec![
            created("1"),
            ChapterEvent::ChapterUpdated {
                changes: changes.clone(),
            },
        ])
        .when_async(update(changes))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn updating_a_deleted_chapter_is_refused() {
    let changes = ChapterChanges {
        number: Some(num("2")),
        ..ChapterChanges::default()
    };
    chapter_with(NeverAsked)
        .given(vec![created("1"), deleted()])
        .when_async(update(changes))
        .await
        .then_expect_error(ChapterError::NotFound);
}

#[tokio::test]
async fn updating_a_chapter_that_was_never_created_is_refused() {
    chapter_with(NeverAsked)
        .given_no_previous_events()
        .when_async(update(ChapterChanges::default()))
        .await
        .then_expect_error(ChapterError::NotFound);
}

#[tokio::test]
async fn updating_a_chapter_of_a_deleted_comic_is_refused() {
    let changes = ChapterChanges {
        number: Some(num("2")),
        ..ChapterChanges::default()
    };
    chapter_of_a_deleted_comic()
        .given(vec![created("1")])
        .when_async(update(changes))
        .await
        .then_expect_error(ChapterError::ComicNotFound);
}

#[tokio::test]
async fn updating_a_chapter_while_the_services_are_down_is_unavailable() {
    let changes = ChapterChanges {
        number: Some(num("2")),
        ..ChapterChanges::default()
    };
    chapter_with(Down)
        .given(vec![created("1")])
        .when_async(update(changes))
        .await
        .then_expect_error(ChapterError::Unavailable("comic store is down".into()));
}

// ---- Delete ----

#[tokio::test]
async fn deleting_a_chapter_emits_chapter_deleted_with_its_comic() {
    chapter()
        .given(vec![created("1")])
        .when_async(ChapterCommand::Delete)
        .await
        .then_expect_events(vec![ChapterEvent::ChapterDeleted { comic_id: COMIC }]);
}

#[tokio::test]
async fn deleting_a_chapter_twice_is_refused() {
    chapter_with(NeverAsked)
        .given(vec![created("1"), deleted()])
        .when_async(ChapterCommand::Delete)
        .await
        .then_expect_error(ChapterError::NotFound);
}

#[tokio::test]
async fn deleting_a_chapter_that_was_never_created_is_refused() {
    chapter_with(NeverAsked)
        .given_no_previous_events()
        .when_async(ChapterCommand::Delete)
        .await
        .then_expect_error(ChapterError::NotFound);
}

#[tokio::test]
async fn deleting_a_chapter_of_a_deleted_comic_is_refused() {
    chapter_of_a_deleted_comic()
        .given(vec![created("1")])
        .when_async(ChapterCommand::Delete)
        .await
        .then_expect_error(ChapterError::ComicNotFound);
}

#[tokio::test]
async fn deleting_a_chapter_while_the_services_are_down_is_unavailable() {
    chapter_with(Down)
        .given(vec![created("1")])
        .when_async(ChapterCommand::Delete)
        .await
        .then_expect_error(ChapterError::Unavailable("comic store is down".into()));
}

// ---- serde ----

#[test]
fn chapter_events_survive_a_json_round_trip() {
    let full = NewChapter {
        number: num("12.5"),
        language: Language::parse("pt-br").unwrap(),
        title: None,
        volume: Some(Volume::parse("3").unwrap()),
        published_at: Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()
            + chrono::Duration::nanoseconds(123_456_789),
        ..new_chapter("1")
    };
    let events = vec![
        created("1"),
        ChapterEvent::ChapterCreated {
            chapter_id: CHAPTER,
            chapter: full,
        },
        ChapterEvent::ChapterUpdated {
            changes: ChapterChanges {
                number: Some(num("2")),
                title: Some(None),
                volume: Some(Some(Volume::parse("2b").unwrap())),
                published_at: Some(at(2)),
            },
        },
        ChapterEvent::ChapterUpdated {
            changes: ChapterChanges {
                title: Some(Some(title("Renamed"))),
                volume: Some(None),
                ..ChapterChanges::default()
            },
        },
        ChapterEvent::ChapterUpdated {
            changes: ChapterChanges::default(),
        },
        deleted(),
    ];
    for event in events {
        let json = serde_json::to_value(&event).unwrap();
        let back: ChapterEvent = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, event, "{json}");
    }
}

#[test]
fn a_null_title_in_chapter_changes_means_clear_the_title() {
    let changes: ChapterChanges = serde_json::from_str(r#"{"title": null}"#).unwrap();
    assert_eq!(changes.title, Some(None));
    assert_eq!(
        changes,
        ChapterChanges {
            title: Some(None),
            ..ChapterChanges::default()
        }
    );
}

#[test]
fn an_absent_title_in_chapter_changes_means_leave_it_as_is() {
    let changes: ChapterChanges = serde_json::from_str("{}").unwrap();
    assert_eq!(changes.title, None);
    assert_eq!(changes, ChapterChanges::default());
}

#[test]
fn a_title_in_chapter_changes_means_set_the_title() {
    let changes: ChapterChanges =
        serde_json::from_str(r#"{"title": "New", "volume": null}"#).unwrap();
    assert_eq!(changes.title, Some(Some(title("New"))));
    assert_eq!(changes.volume, Some(None));
}
