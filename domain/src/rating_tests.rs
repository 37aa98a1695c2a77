//! Given/when/then tests of the Rating aggregate.

use super::*;
use crate::values::FieldError;
use cqrs_es::test::TestFramework;

// ---- fakes of the services ----

/// Answers `comic_is_live` from a fixed list of live comics.
struct LiveComics(Vec<Uuid>);

#[async_trait]
impl RatingServices for LiveComics {
    async fn comic_is_live(&self, comic_id: Uuid) -> Result<bool, String> {
        Ok(self.0.contains(&comic_id))
    }
}

/// Cannot be reached.
struct Down;

#[async_trait]
impl RatingServices for Down {
    async fn comic_is_live(&self, _: Uuid) -> Result<bool, String> {
        Err("comic store is down".into())
    }
}

/// Fails the test if the aggregate asks it anything.
struct NeverAsked;

#[async_trait]
impl RatingServices for NeverAsked {
    async fn comic_is_live(&self, _: Uuid) -> Result<bool, String> {
        panic!("the aggregate should not have consulted its services")
    }
}

// ---- builders ----

const COMIC: Uuid = Uuid::from_u128(0xC0);
const OTHER_COMIC: Uuid = Uuid::from_u128(0xC1);
const USER: &str = "user-1";

fn rating_with(services: impl RatingServices + 'static) -> TestFramework<Rating> {
    let services: Arc<dyn RatingServices> = Arc::new(services);
    TestFramework::with(services)
}

/// A rating of a comic that is live.
fn rating() -> TestFramework<Rating> {
    rating_with(LiveComics(vec![COMIC]))
}

/// A rating of a comic that is deleted (or never existed).
fn rating_of_a_deleted_comic() -> TestFramework<Rating> {
    rating_with(LiveComics(vec![]))
}

fn score(n: i64) -> Score {
    Score::try_from(n).unwrap()
}

fn rate(n: i64) -> RatingCommand {
    RatingCommand::Rate {
        comic_id: COMIC,
        user: USER.into(),
        score: score(n),
    }
}

fn given(n: i64) -> RatingEvent {
    RatingEvent::RatingGiven {
        comic_id: COMIC,
        user: USER.into(),
        score: score(n),
    }
}

fn changed(n: i64, previous: i64) -> RatingEvent {
    RatingEvent::RatingChanged {
        comic_id: COMIC,
        user: USER.into(),
        score: score(n),
        previous: score(previous),
    }
}

fn removed(previous: i64) -> RatingEvent {
    RatingEvent::RatingRemoved {
        comic_id: COMIC,
        user: USER.into(),
        previous: score(previous),
    }
}

// ---- scores ----

#[test]
fn a_score_outside_1_to_10_is_refused() {
    for bad in [0, 11, -1] {
        assert_eq!(
            Score::try_from(bad),
            Err(FieldError::new("score", "must be an integer from 1 to 10")),
            "{bad}"
        );
    }
    assert_eq!(score(1).value(), 1);
    assert_eq!(score(10).value(), 10);
}

// ---- ids ----

#[test]
fn rating_ids_are_deterministic_and_differ_per_user_and_comic() {
    assert_eq!(rating_id(COMIC, USER), rating_id(COMIC, USER));
    assert_ne!(rating_id(COMIC, USER), rating_id(COMIC, "user-2"));
    assert_ne!(rating_id(COMIC, USER), rating_id(OTHER_COMIC, USER));
    assert_ne!(rating_id(COMIC, USER), COMIC);
    assert_eq!(rating_id(COMIC, USER).get_version_num(), 5);
}

// ---- Rate ----

#[tokio::test]
async fn rating_a_comic_emits_rating_given() {
    rating()
        .given_no_previous_events()
        .when_async(rate(8))
        .await
        .then_expect_events(vec![given(8)]);
}

#[tokio::test]
async fn rating_a_deleted_or_missing_comic_is_refused() {
    rating_of_a_deleted_comic()
        .given_no_previous_events()
        .when_async(rate(8))
        .await
        .then_expect_error(RatingError::ComicNotFound);
}

#[tokio::test]
async fn rerating_a_comic_deleted_since_it_was_rated_is_refused() {
    rating_of_a_deleted_comic()
        .given(vec![given(8)])
        .when_async(rate(9))
        .await
        .then_expect_error(RatingError::ComicNotFound);
}

#[tokio::test]
async fn rating_while_the_services_are_down_is_unavailable() {
    rating_with(Down)
        .given_no_previous_events()
        .when_async(rate(8))
        .await
        .then_expect_error(RatingError::Unavailable("comic store is down".into()));
}

#[tokio::test]
async fn changing_a_score_emits_rating_changed_with_the_previous_score() {
    rating()
        .given(vec![given(8)])
        .when_async(rate(3))
        .await
        .then_expect_events(vec![changed(3, 8)]);
}

#[tokio::test]
async fn a_change_is_compared_with_the_latest_score() {
    rating()
        .given(vec![given(8), changed(3, 8)])
        .when_async(rate(10))
        .await
        .then_expect_events(vec![changed(10, 3)]);
}

#[tokio::test]
async fn giving_the_same_score_again_emits_nothing() {
    rating()
        .given(vec![given(8)])
        .when_async(rate(8))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn giving_the_changed_score_again_emits_nothing() {
    rating()
        .given(vec![given(8), changed(3, 8)])
        .when_async(rate(3))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn rating_again_after_a_removal_emits_rating_given() {
    rating()
        .given(vec![given(8), removed(8)])
        .when_async(rate(8))
        .await
        .then_expect_events(vec![given(8)]);
}

// ---- Unrate ----

#[tokio::test]
async fn removing_a_rating_emits_rating_removed_with_the_previous_score() {
    rating_with(NeverAsked)
        .given(vec![given(8), changed(5, 8)])
        .when_async(RatingCommand::Unrate)
        .await
        .then_expect_events(vec![removed(5)]);
}

#[tokio::test]
async fn removing_a_rating_of_a_since_deleted_comic_is_allowed() {
    rating_of_a_deleted_comic()
        .given(vec![given(8)])
        .when_async(RatingCommand::Unrate)
        .await
        .then_expect_events(vec![removed(8)]);
}

#[tokio::test]
async fn removing_a_rating_that_does_not_exist_is_refused() {
    rating_with(NeverAsked)
        .given_no_previous_events()
        .when_async(RatingCommand::Unrate)
        .await
        .then_expect_error(RatingError::NotRated);
}

#[tokio::test]
async fn removing_a_rating_twice_is_refused() {
    rating_with(NeverAsked)
        .given(vec![given(8), removed(8)])
        .when_async(RatingCommand::Unrate)
        .await
        .then_expect_error(RatingError::NotRated);
}

// ---- serde ----

#[test]
fn rating_events_survive_a_json_round_trip() {
    let events = vec![given(1), changed(10, 1), removed(10)];
    for event in events {
        let json = serde_json::to_value(&event).unwrap();
        let back: RatingEvent = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, event, "{json}");
    }
}

#[test]
fn scores_in_rating_events_are_plain_numbers() {
    let json = serde_json::to_value(changed(7, 2)).unwrap();
    assert_eq!(json["RatingChanged"]["score"], 7);
    assert_eq!(json["RatingChanged"]["previous"], 2);
}
