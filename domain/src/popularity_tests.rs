//! Given/when/then tests of the Popularity aggregate.

use super::*;
use chrono::TimeZone;
use cqrs_es::test::TestFramework;

// ---- builders ----

const COMIC: Uuid = Uuid::from_u128(0xC0);

fn popularity() -> TestFramework<Popularity> {
    TestFramework::with(())
}

/// 2024-05-01 at `h:m:s` UTC.
fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, h, m, s).unwrap()
}

fn view(seq: u64, at: DateTime<Utc>) -> View {
    View { seq, at, count: 1 }
}

fn record(views: Vec<View>) -> PopularityCommand {
    PopularityCommand::RecordViews {
        comic_id: COMIC,
        views,
    }
}

fn minute(at: DateTime<Utc>, count: u64) -> MinuteCount {
    MinuteCount { minute: at, count }
}

fn recorded(count: u64, last_view_seq: u64, minutes: Vec<MinuteCount>) -> PopularityEvent {
    PopularityEvent::ViewsRecorded {
        comic_id: COMIC,
        count,
        last_view_seq,
        minutes,
    }
}

// ---- RecordViews ----

#[tokio::test]
async fn a_first_batch_emits_views_recorded() {
    popularity()
        .given_no_previous_events()
        .when_async(record(vec![view(1, at(10, 0, 5)), view(2, at(10, 0, 6))]))
        .await
        .then_expect_events(vec![recorded(2, 2, vec![minute(at(10, 0, 0), 2)])]);
}

#[tokio::test]
async fn views_are_counted_per_minute_sorted_by_minute() {
    popularity()
        .given_no_previous_events()
        .when_async(record(vec![
            view(3, at(10, 1, 10)),
            view(1, at(10, 0, 5)),
            view(2, at(10, 0, 50)),
        ]))
        .await
        .then_expect_events(vec![recorded(
            3,
            3,
            vec![minute(at(10, 0, 0), 2), minute(at(10, 1, 0), 1)],
        )]);
}

#[tokio::test]
async fn sub_second_times_are_truncated_to_the_minute() {
    let late = at(23, 59, 59) + chrono::Duration::nanoseconds(999_999_999);
    popularity()
        .given_no_previous_events()
        .when_async(record(vec![view(7, late)]))
        .await
        .then_expect_events(vec![recorded(1, 7, vec![minute(at(23, 59, 0), 1)])]);
}

#[tokio::test]
async fn a_redelivered_batch_emits_nothing() {
    popularity()
        .given(vec![recorded(2, 2, vec![minute(at(10, 0, 0), 2)])])
        .when_async(record(vec![view(1, at(10, 0, 5)), view(2, at(10, 0, 50))]))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn a_partly_overlapping_batch_records_only_the_new_views() {
    popularity()
        .given(vec![recorded(2, 2, vec![minute(at(10, 0, 0), 2)])])
        .when_async(record(vec![
            view(1, at(10, 0, 5)),
            view(2, at(10, 0, 50)),
            view(3, at(10, 1, 10)),
            view(4, at(10, 2, 0)),
        ]))
        .await
        .then_expect_events(vec![recorded(
            2,
            4,
            vec![minute(at(10, 1, 0), 1), minute(at(10, 2, 0), 1)],
        )]);
}

#[tokio::test]
async fn later_batches_are_compared_with_the_latest_recorded_sequence() {
    popularity()
        .given(vec![
            recorded(2, 2, vec![minute(at(10, 0, 0), 2)]),
            recorded(3, 5, vec![minute(at(10, 1, 0), 3)]),
        ])
        .when_async(record(vec![view(5, at(10, 1, 30)), view(6, at(10, 3, 0))]))
        .await
        .then_expect_events(vec![recorded(1, 6, vec![minute(at(10, 3, 0), 1)])]);
}

#[tokio::test]
async fn a_view_delivered_twice_in_one_batch_counts_once() {
    popularity()
        .given_no_previous_events()
        .when_async(record(vec![view(1, at(10, 0, 5)), view(1, at(10, 0, 5))]))
        .await
        .then_expect_events(vec![recorded(1, 1, vec![minute(at(10, 0, 0), 1)])]);
}

#[tokio::test]
async fn an_empty_batch_emits_nothing() {
    popularity()
        .given_no_previous_events()
        .when_async(record(vec![]))
        .await
        .then_expect_events(vec![]);
}

#[test]
fn recorded_views_add_up_in_the_state() {
    let mut p = Popularity::default();
    p.apply(recorded(2, 2, vec![minute(at(10, 0, 0), 2)]));
    p.apply(recorded(3, 5, vec![minute(at(10, 1, 0), 3)]));
    assert_eq!((p.total, p.last_view_seq), (5, 5));
}

#[test]
fn minute_of_truncates_seconds_and_fractions() {
    let t = at(10, 0, 50) + chrono::Duration::milliseconds(250);
    assert_eq!(minute_of(t), at(10, 0, 0));
    assert_eq!(minute_of(at(10, 1, 0)), at(10, 1, 0));
}

// ---- serde ----

#[test]
fn popularity_events_survive_a_json_round_trip() {
    let events = vec![
        recorded(
            3,
            42,
            vec![minute(at(10, 0, 0), 2), minute(at(10, 1, 0), 1)],
        ),
        recorded(0, 0, vec![]),
    ];
    for event in events {
        let json = serde_json::to_value(&event).unwrap();
        let back: PopularityEvent = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, event, "{json}");
    }
}

#[tokio::test]
async fn a_message_bringing_several_views_counts_them_all_once() {
    let many = |seq, at, count| View { seq, at, count };
    popularity()
        .given(vec![recorded(1, 4, vec![minute(at(9, 0, 0), 1)])])
        .when_async(record(vec![
            // Already recorded, however many it brought.
            many(4, at(9, 0, 1), 30),
            many(5, at(10, 0, 5), 120),
            // Nothing that counts: no event for it.
            many(6, at(10, 1, 0), 0),
            many(7, at(10, 1, 30), 3),
        ]))
        .await
        .then_expect_events(vec![recorded(
            123,
            7,
            vec![minute(at(10, 0, 0), 120), minute(at(10, 1, 0), 3)],
        )]);
}
