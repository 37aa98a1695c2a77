//! Given/when/then tests of the Comic aggregate.

use super::*;
use crate::values::{ComicStatus, ComicTitle, ComicType, Description, Genres, NameList};
use cqrs_es::test::TestFramework;

// ---- fakes of the services ----

/// Answers `chapter_holds` from a fixed list of (chapter, language, number).
struct Holds(Vec<(Uuid, Language, ChapterNumber)>);

#[async_trait]
impl ComicServices for Holds {
    async fn chapter_holds(
        &self,
        chapter_id: Uuid,
        language: &Language,
        number: &ChapterNumber,
    ) -> Result<bool, String> {
        Ok(self
            .0
            .iter()
            .any(|(id, l, n)| *id == chapter_id && l == language && n == number))
    }
}

/// Cannot be reached.
struct Down;

#[async_trait]
impl ComicServices for Down {
    async fn chapter_holds(
        &self,
        _: Uuid,
        _: &Language,
        _: &ChapterNumber,
    ) -> Result<bool, String> {
        Err("chapter store is down".into())
    }
}

/// Fails the test if the aggregate asks it anything.
struct NeverAsked;

#[async_trait]
impl ComicServices for NeverAsked {
    async fn chapter_holds(
        &self,
        _: Uuid,
        _: &Language,
        _: &ChapterNumber,
    ) -> Result<bool, String> {
        panic!("the aggregate should not have consulted its services")
    }
}

// ---- builders ----

fn comic() -> TestFramework<Comic> {
    comic_with(NeverAsked)
}

fn comic_with(services: impl ComicServices + 'static) -> TestFramework<Comic> {
    let services: Arc<dyn ComicServices> = Arc::new(services);
    TestFramework::with(services)
}

const COMIC: Uuid = Uuid::from_u128(0xC0);
const CH_A: Uuid = Uuid::from_u128(0xA);
const CH_B: Uuid = Uuid::from_u128(0xB);

fn details(title: &str) -> ComicDetails {
    ComicDetails {
        title: ComicTitle::parse(title).unwrap(),
        alt_titles: NameList::default(),
        description: Description::default(),
        authors: NameList::default(),
        artists: NameList::default(),
        status: ComicStatus::default(),
        comic_type: ComicType::default(),
        genres: Genres::default(),
    }
}

fn names(field: &str, raw: &[&str]) -> NameList {
    let raw: Vec<String> = raw.iter().map(|s| s.to_string()).collect();
    NameList::parse(field, &raw).unwrap()
}

fn lang(raw: &str) -> Language {
    Language::parse(raw).unwrap()
}

fn num(raw: &str) -> ChapterNumber {
    ChapterNumber::parse(raw).unwrap()
}

fn created(title: &str) -> ComicEvent {
    ComicEvent::ComicCreated {
        comic_id: COMIC,
        details: details(title),
    }
}

fn claimed(chapter_id: Uuid, language: &str, number: &str) -> ComicEvent {
    ComicEvent::ChapterNumberClaimed {
        chapter_id,
        language: lang(language),
        number: num(number),
    }
}

fn released(chapter_id: Uuid, language: &str, number: &str) -> ComicEvent {
    ComicEvent::ChapterNumberReleased {
        chapter_id,
        language: lang(language),
        number: num(number),
    }
}

fn claim(chapter_id: Uuid, language: &str, number: &str) -> ComicCommand {
    ComicCommand::ClaimChapterNumber {
        chapter_id,
        language: lang(language),
        number: num(number),
    }
}

fn release(chapter_id: Uuid, language: &str, number: &str) -> ComicCommand {
    ComicCommand::ReleaseChapterNumber {
        chapter_id,
        language: lang(language),
        number: num(number),
    }
}

// ---- Create ----

#[tokio::test]
async fn creating_a_comic_emits_comic_created() {
    comic()
        .given_no_previous_events()
        .when_async(ComicCommand::Create {
            comic_id: COMIC,
            details: details("Solo"),
        })
        .await
        .then_expect_events(vec![created("Solo")]);
}

#[tokio::test]
async fn creating_a_comic_that_already_exists_is_refused() {
    comic()
        .given(vec![created("Solo")])
        .when_async(ComicCommand::Create {
            comic_id: COMIC,
            details: details("Other"),
        })
        .await
        .then_expect_error(ComicError::AlreadyExists);
}

#[tokio::test]
async fn recreating_a_deleted_comic_is_refused() {
    comic()
        .given(vec![created("Solo"), ComicEvent::ComicDeleted {}])
        .when_async(ComicCommand::Create {
            comic_id: COMIC,
            details: details("Solo"),
        })
        .await
        .then_expect_error(ComicError::AlreadyExists);
}

// ---- Update ----

#[tokio::test]
async fn updating_a_comic_emits_only_the_fields_that_changed() {
    let changes = ComicChanges {
        title: Some(ComicTitle::parse("Solo").unwrap()), // unchanged
        description: Some(Description::parse("A hunter rises.").unwrap()),
        authors: Some(names("authors", &["Chugong"])),
        status: Some(ComicStatus::default()), // unchanged
        comic_type: Some(ComicType::Manhwa),
        genres: Some(Genres::default()), // unchanged
        ..ComicChanges::default()
    };
    let expected = ComicChanges {
        description: Some(Description::parse("A hunter rises.").unwrap()),
        authors: Some(names("authors", &["Chugong"])),
        comic_type: Some(ComicType::Manhwa),
        ..ComicChanges::default()
    };
    comic()
        .given(vec![created("Solo")])
        .when_async(ComicCommand::Update(changes))
        .await
        .then_expect_events(vec![ComicEvent::ComicUpdated { changes: expected }]);
}

#[tokio::test]
async fn updating_every_field_of_a_comic_emits_every_field() {
    let changes = ComicChanges {
        title: Some(ComicTitle::parse("Solo Leveling").unwrap()),
        alt_titles: Some(names("alt_titles", &["Na Honjaman Level Up"])),
        description: Some(Description::parse("A hunter rises.").unwrap()),
        authors: Some(names("authors", &["Chugong"])),
        artists: Some(names("artists", &["Dubu"])),
        status: Some(ComicStatus::Completed),
        comic_type: Some(ComicType::Manhwa),
        genres: Some(Genres::parse(&["action".into(), "fantasy".into()]).unwrap()),
    };
    comic()
        .given(vec![created("Solo")])
        .when_async(ComicCommand::Update(changes.clone()))
        .await
        .then_expect_events(vec![ComicEvent::ComicUpdated { changes }]);
}

#[tokio::test]
async fn updating_a_comic_with_its_current_values_emits_nothing() {
    let changes = ComicChanges {
        title: Some(ComicTitle::parse("Solo").unwrap()),
        status: Some(ComicStatus::Ongoing),
        ..ComicChanges::default()
    };
    comic()
        .given(vec![created("Solo")])
        .when_async(ComicCommand::Update(changes))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn an_empty_update_emits_nothing() {
    comic()
        .given(vec![created("Solo")])
        .when_async(ComicCommand::Update(ComicChanges::default()))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn an_update_is_compared_with_the_comic_as_already_updated() {
    let renamed = ComicChanges {
        title: Some(ComicTitle::parse("Solo Leveling").unwrap()),
        ..ComicChanges::default()
    };
    comic()
        .given(vec![
            created("Solo"),
            ComicEvent::ComicUpdated {
                changes: renamed.clone(),
            },
        ])
        .when_async(ComicCommand::Update(renamed))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn updating_a_comic_that_was_never_created_is_refused() {
    comic()
        .given_no_previous_events()
        .when_async(ComicCommand::Update(ComicChanges::default()))
        .await
        .then_expect_error(ComicError::NotFound);
}

#[tokio::test]
async fn updating_a_deleted_comic_is_refused() {
    let changes = ComicChanges {
        status: Some(ComicStatus::Hiatus),
        ..ComicChanges::default()
    };
    comic()
        .given(vec![created("Solo"), ComicEvent::ComicDeleted {}])
        .when_async(ComicCommand::Update(changes))
        .await
        .then_expect_error(ComicError::NotFound);
}

// ---- Delete ----

#[tokio::test]
async fn deleting_a_comic_emits_comic_deleted() {
    comic()
        .given(vec![created("Solo")])
        .when_async(ComicCommand::Delete)
        .await
        .then_expect_events(vec![ComicEvent::ComicDeleted {}]);
}

#[tokio::test]
async fn deleting_a_comic_twice_is_refused() {
    comic()
        .given(vec![created("Solo"), ComicEvent::ComicDeleted {}])
        .when_async(ComicCommand::Delete)
        .await
        .then_expect_error(ComicError::NotFound);
}

#[tokio::test]
async fn deleting_a_comic_that_was_never_created_is_refused() {
    comic()
        .given_no_previous_events()
        .when_async(ComicCommand::Delete)
        .await
        .then_expect_error(ComicError::NotFound);
}

// ---- ClaimChapterNumber ----

#[tokio::test]
async fn claiming_a_free_number_emits_chapter_number_claimed() {
    comic()
        .given(vec![created("Solo")])
        .when_async(claim(CH_A, "en", "1"))
        .await
        .then_expect_events(vec![claimed(CH_A, "en", "1")]);
}

#[tokio::test]
async fn reclaiming_the_number_a_chapter_already_holds_emits_nothing() {
    comic()
        .given(vec![created("Solo"), claimed(CH_A, "en", "1")])
        .when_async(claim(CH_A, "en", "1"))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn renumbering_a_chapter_claims_the_new_number_without_releasing_the_old() {
    comic()
        .given(vec![created("Solo"), claimed(CH_A, "en", "1")])
        .when_async(claim(CH_A, "en", "2"))
        .await
        .then_expect_events(vec![claimed(CH_A, "en", "2")]);
}

#[tokio::test]
async fn after_a_renumber_claim_the_old_number_is_still_taken_while_the_chapter_holds_it() {
    // The chapter has not been changed yet: it still has en/1.
    comic_with(Holds(vec![(CH_A, lang("en"), num("1"))]))
        .given(vec![
            created("Solo"),
            claimed(CH_A, "en", "1"),
            claimed(CH_A, "en", "2"),
        ])
        .when_async(claim(CH_B, "en", "1"))
        .await
        .then_expect_error(ComicError::ChapterNumberTaken {
            language: "en".into(),
            number: "1".into(),
        });
}

#[tokio::test]
async fn after_a_renumber_the_old_number_left_unreleased_is_repaired_by_another_claim() {
    // The chapter moved to en/2 but a crash kept en/1 from being released.
    comic_with(Holds(vec![(CH_A, lang("en"), num("2"))]))
        .given(vec![
            created("Solo"),
            claimed(CH_A, "en", "1"),
            claimed(CH_A, "en", "2"),
        ])
        .when_async(claim(CH_B, "en", "1"))
        .await
        .then_expect_events(vec![released(CH_A, "en", "1"), claimed(CH_B, "en", "1")]);
}

#[tokio::test]
async fn a_renumber_that_never_reached_the_chapter_leaves_a_new_number_another_can_repair() {
    // The chapter still has en/1: its claim on en/2 is the stale one.
    comic_with(Holds(vec![(CH_A, lang("en"), num("1"))]))
        .given(vec![
            created("Solo"),
            claimed(CH_A, "en", "1"),
            claimed(CH_A, "en", "2"),
        ])
        .when_async(claim(CH_B, "en", "2"))
        .await
        .then_expect_events(vec![released(CH_A, "en", "2"), claimed(CH_B, "en", "2")]);
}

#[tokio::test]
async fn repairing_one_stale_claim_leaves_the_chapters_other_number_held() {
    comic_with(Holds(vec![(CH_A, lang("en"), num("1"))]))
        .given(vec![
            created("Solo"),
            claimed(CH_A, "en", "1"),
            claimed(CH_A, "en", "2"),
            released(CH_A, "en", "2"),
            claimed(CH_B, "en", "2"),
        ])
        .when_async(claim(CH_B, "en", "1"))
        .await
        .then_expect_error(ComicError::ChapterNumberTaken {
            language: "en".into(),
            number: "1".into(),
        });
}

#[tokio::test]
async fn a_chapter_renumbered_back_before_the_release_emits_nothing() {
    comic()
        .given(vec![
            created("Solo"),
            claimed(CH_A, "en", "1"),
            claimed(CH_A, "en", "2"),
        ])
        .when_async(claim(CH_A, "en", "1"))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn claiming_a_number_another_chapter_really_holds_is_refused() {
    comic_with(Holds(vec![(CH_A, lang("en"), num("1"))]))
        .given(vec![created("Solo"), claimed(CH_A, "en", "1")])
        .when_async(claim(CH_B, "en", "1"))
        .await
        .then_expect_error(ComicError::ChapterNumberTaken {
            language: "en".into(),
            number: "1".into(),
        });
}

#[tokio::test]
async fn renumbering_a_chapter_onto_a_number_another_chapter_holds_is_refused() {
    comic_with(Holds(vec![
        (CH_A, lang("en"), num("1")),
        (CH_B, lang("en"), num("2")),
    ]))
    .given(vec![
        created("Solo"),
        claimed(CH_A, "en", "1"),
        claimed(CH_B, "en", "2"),
    ])
    .when_async(claim(CH_B, "en", "1"))
    .await
    .then_expect_error(ComicError::ChapterNumberTaken {
        language: "en".into(),
        number: "1".into(),
    });
}

#[tokio::test]
async fn claiming_a_number_held_by_a_stale_claim_releases_it_and_claims_it() {
    // The services know of no chapter holding en/1: CH_A's claim was left
    // behind by a crash before the chapter was written.
    comic_with(Holds(vec![]))
        .given(vec![created("Solo"), claimed(CH_A, "en", "1")])
        .when_async(claim(CH_B, "en", "1"))
        .await
        .then_expect_events(vec![released(CH_A, "en", "1"), claimed(CH_B, "en", "1")]);
}

#[tokio::test]
async fn a_claim_is_stale_when_its_chapter_now_holds_another_number() {
    comic_with(Holds(vec![(CH_A, lang("en"), num("7"))]))
        .given(vec![created("Solo"), claimed(CH_A, "en", "1")])
        .when_async(claim(CH_B, "en", "1"))
        .await
        .then_expect_events(vec![released(CH_A, "en", "1"), claimed(CH_B, "en", "1")]);
}

#[tokio::test]
async fn claiming_a_held_number_while_the_services_are_down_is_unavailable() {
    comic_with(Down)
        .given(vec![created("Solo"), claimed(CH_A, "en", "1")])
        .when_async(claim(CH_B, "en", "1"))
        .await
        .then_expect_error(ComicError::Unavailable("chapter store is down".into()));
}

#[tokio::test]
async fn claiming_a_free_number_does_not_consult_the_services() {
    comic_with(Down)
        .given(vec![created("Solo"), claimed(CH_A, "en", "1")])
        .when_async(claim(CH_B, "en", "2"))
        .await
        .then_expect_events(vec![claimed(CH_B, "en", "2")]);
}

#[tokio::test]
async fn claiming_a_number_on_a_deleted_comic_is_refused() {
    comic()
        .given(vec![created("Solo"), ComicEvent::ComicDeleted {}])
        .when_async(claim(CH_A, "en", "1"))
        .await
        .then_expect_error(ComicError::NotFound);
}

#[tokio::test]
async fn claiming_a_number_on_a_comic_that_was_never_created_is_refused() {
    comic()
        .given_no_previous_events()
        .when_async(claim(CH_A, "en", "1"))
        .await
        .then_expect_error(ComicError::NotFound);
}

#[tokio::test]
async fn the_same_number_in_a_different_language_is_allowed() {
    comic()
        .given(vec![created("Solo"), claimed(CH_A, "en", "1")])
        .when_async(claim(CH_B, "pt-BR", "1"))
        .await
        .then_expect_events(vec![claimed(CH_B, "pt-BR", "1")]);
}

#[tokio::test]
async fn numbers_equal_in_value_are_the_same_number() {
    let held = ComicCommand::ClaimChapterNumber {
        chapter_id: CH_B,
        language: lang("EN"),
        number: num("01.50"),
    };
    comic_with(Holds(vec![(CH_A, lang("en"), num("1.5"))]))
        .given(vec![created("Solo"), claimed(CH_A, "en", "1.5")])
        .when_async(held)
        .await
        .then_expect_error(ComicError::ChapterNumberTaken {
            language: "en".into(),
            number: "1.5".into(),
        });
}

// ---- ReleaseChapterNumber ----

#[tokio::test]
async fn releasing_a_held_number_emits_chapter_number_released() {
    comic()
        .given(vec![created("Solo"), claimed(CH_A, "en", "1")])
        .when_async(release(CH_A, "en", "1"))
        .await
        .then_expect_events(vec![released(CH_A, "en", "1")]);
}

#[tokio::test]
async fn releasing_the_old_number_after_a_renumber_emits_chapter_number_released() {
    comic()
        .given(vec![
            created("Solo"),
            claimed(CH_A, "en", "1"),
            claimed(CH_A, "en", "2"),
        ])
        .when_async(release(CH_A, "en", "1"))
        .await
        .then_expect_events(vec![released(CH_A, "en", "1")]);
}

#[tokio::test]
async fn the_old_number_released_after_a_renumber_is_free_without_asking_the_services() {
    comic()
        .given(vec![
            created("Solo"),
            claimed(CH_A, "en", "1"),
            claimed(CH_A, "en", "2"),
            released(CH_A, "en", "1"),
        ])
        .when_async(claim(CH_B, "en", "1"))
        .await
        .then_expect_events(vec![claimed(CH_B, "en", "1")]);
}

#[tokio::test]
async fn releasing_the_old_number_after_a_renumber_keeps_the_new_number_held() {
    comic_with(Holds(vec![(CH_A, lang("en"), num("2"))]))
        .given(vec![
            created("Solo"),
            claimed(CH_A, "en", "1"),
            claimed(CH_A, "en", "2"),
            released(CH_A, "en", "1"),
        ])
        .when_async(claim(CH_B, "en", "2"))
        .await
        .then_expect_error(ComicError::ChapterNumberTaken {
            language: "en".into(),
            number: "2".into(),
        });
}

#[tokio::test]
async fn releasing_a_number_held_by_another_chapter_emits_nothing() {
    comic()
        .given(vec![created("Solo"), claimed(CH_A, "en", "1")])
        .when_async(release(CH_B, "en", "1"))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn a_release_recorded_for_another_chapter_leaves_the_number_held() {
    comic_with(Holds(vec![(CH_A, lang("en"), num("1"))]))
        .given(vec![
            created("Solo"),
            claimed(CH_A, "en", "1"),
            released(CH_B, "en", "1"),
        ])
        .when_async(claim(CH_B, "en", "1"))
        .await
        .then_expect_error(ComicError::ChapterNumberTaken {
            language: "en".into(),
            number: "1".into(),
        });
}

#[tokio::test]
async fn releasing_a_number_the_chapter_does_not_hold_emits_nothing() {
    comic()
        .given(vec![created("Solo"), claimed(CH_A, "en", "1")])
        .when_async(release(CH_A, "en", "2"))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn releasing_a_held_number_in_another_language_emits_nothing() {
    comic()
        .given(vec![created("Solo"), claimed(CH_A, "en", "1")])
        .when_async(release(CH_A, "pt-BR", "1"))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn releasing_a_number_on_a_comic_without_claims_emits_nothing() {
    comic()
        .given(vec![created("Solo")])
        .when_async(release(CH_A, "en", "1"))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn releasing_a_number_twice_emits_nothing_the_second_time() {
    comic()
        .given(vec![
            created("Solo"),
            claimed(CH_A, "en", "1"),
            released(CH_A, "en", "1"),
        ])
        .when_async(release(CH_A, "en", "1"))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn releasing_a_number_matches_numbers_equal_in_value() {
    comic()
        .given(vec![created("Solo"), claimed(CH_A, "en", "1.5")])
        .when_async(release(CH_A, "EN", "01.50"))
        .await
        .then_expect_events(vec![released(CH_A, "en", "1.5")]);
}

#[tokio::test]
async fn a_released_number_is_free_for_another_chapter() {
    comic()
        .given(vec![
            created("Solo"),
            claimed(CH_A, "en", "1"),
            released(CH_A, "en", "1"),
        ])
        .when_async(claim(CH_B, "en", "1"))
        .await
        .then_expect_events(vec![claimed(CH_B, "en", "1")]);
}

// ---- serde ----

#[test]
fn comic_events_survive_a_json_round_trip() {
    let full = ComicDetails {
        alt_titles: names("alt_titles", &["Na Honjaman Level Up"]),
        description: Description::parse("A hunter rises.").unwrap(),
        authors: names("authors", &["Chugong"]),
        artists: names("artists", &["Dubu"]),
        status: ComicStatus::Completed,
        comic_type: ComicType::Manhwa,
        genres: Genres::parse(&["action".into()]).unwrap(),
        ..details("Solo")
    };
    let events = vec![
        ComicEvent::ComicCreated {
            comic_id: COMIC,
            details: full,
        },
        ComicEvent::ComicUpdated {
            changes: ComicChanges {
                title: Some(ComicTitle::parse("Solo Leveling").unwrap()),
                comic_type: Some(ComicType::Webtoon),
                ..ComicChanges::default()
            },
        },
        ComicEvent::ComicUpdated {
            changes: ComicChanges::default(),
        },
        ComicEvent::ComicDeleted {},
        claimed(CH_A, "zh-Hant", "12.5"),
        released(CH_A, "zh-Hant", "12.5"),
    ];
    for event in events {
        let json = serde_json::to_value(&event).unwrap();
        let back: ComicEvent = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, event, "{json}");
    }
}

#[test]
fn the_number_register_survives_a_json_round_trip() {
    let mut comic = Comic::default();
    comic.apply(created("Solo"));
    comic.apply(claimed(CH_A, "en", "1"));
    comic.apply(claimed(CH_A, "en", "2"));
    comic.apply(claimed(CH_B, "pt-BR", "1"));
    let json = serde_json::to_value(&comic).unwrap();
    let back: Comic = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back.numbers, comic.numbers, "{json}");
    assert_eq!(back.numbers.len(), 3, "{json}");
}

// ---- Cover ----

fn cover(seed: u8) -> Image {
    Image {
        content_type: crate::values::ImageType::Jpeg,
        width: 512,
        height: 768,
        size: 2000 + seed as u64,
        sha256: format!("{seed:064x}"),
        key: format!("images/{seed:064x}"),
    }
}

#[tokio::test]
async fn setting_a_cover_records_its_metadata() {
    comic()
        .given(vec![created("Solo")])
        .when_async(ComicCommand::SetCover { image: cover(1) })
        .await
        .then_expect_events(vec![ComicEvent::CoverSet { image: cover(1) }]);
}

#[tokio::test]
async fn replacing_a_cover_records_the_new_one_and_the_same_one_nothing() {
    let given = vec![created("Solo"), ComicEvent::CoverSet { image: cover(1) }];
    comic()
        .given(given.clone())
        .when_async(ComicCommand::SetCover { image: cover(2) })
        .await
        .then_expect_events(vec![ComicEvent::CoverSet { image: cover(2) }]);
    comic()
        .given(given)
        .when_async(ComicCommand::SetCover { image: cover(1) })
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn a_cover_on_a_deleted_or_missing_comic_is_refused() {
    comic()
        .given(vec![created("Solo"), ComicEvent::ComicDeleted {}])
        .when_async(ComicCommand::SetCover { image: cover(1) })
        .await
        .then_expect_error(ComicError::NotFound);
    comic()
        .given_no_previous_events()
        .when_async(ComicCommand::SetCover { image: cover(1) })
        .await
        .then_expect_error(ComicError::NotFound);
}

#[tokio::test]
async fn removing_the_cover_records_it_and_a_missing_cover_is_refused() {
    comic()
        .given(vec![
            created("Solo"),
            ComicEvent::CoverSet { image: cover(1) },
        ])
        .when_async(ComicCommand::RemoveCover)
        .await
        .then_expect_events(vec![ComicEvent::CoverRemoved {}]);
    comic()
        .given(vec![
            created("Solo"),
            ComicEvent::CoverSet { image: cover(1) },
            ComicEvent::CoverRemoved {},
        ])
        .when_async(ComicCommand::RemoveCover)
        .await
        .then_expect_error(ComicError::NoCover);
}

// ---- Folding changes ----

#[test]
fn a_change_then_another_applies_as_both_in_turn() {
    let first = ComicChanges {
        title: Some(ComicTitle::parse("First").unwrap()),
        authors: Some(names("authors", &["A"])),
        status: Some(ComicStatus::Completed),
        ..ComicChanges::default()
    };
    let second = ComicChanges {
        title: Some(ComicTitle::parse("Second").unwrap()),
        alt_titles: Some(NameList::default()), // a cleared list stays cleared
        genres: Some(Genres::parse(&["drama".into()]).unwrap()),
        ..ComicChanges::default()
    };
    let mut in_turn = details("Start");
    in_turn.alt_titles = names("alt_titles", &["Old"]);
    let mut folded = in_turn.clone();
    first.clone().apply_to(&mut in_turn);
    second.clone().apply_to(&mut in_turn);
    first.clone().then(second.clone()).apply_to(&mut folded);
    assert_eq!(folded, in_turn);
    assert_eq!(folded.title.as_str(), "Second");
    assert_eq!(folded.authors, names("authors", &["A"]));
    assert!(folded.alt_titles.as_slice().is_empty());
    assert_eq!(
        first.clone().then(ComicChanges::default()),
        first,
        "an empty change changes nothing"
    );
}
