//! Given/when/then tests of the PremiumPlan aggregate.

use super::*;
use crate::values::Perk;
use cqrs_es::test::TestFramework;

fn plan() -> TestFramework<PremiumPlan> {
    TestFramework::with(())
}

const PLAN: Uuid = Uuid::from_u128(0x9A);

fn perks(raw: &[&str]) -> Perks {
    let raw: Vec<String> = raw.iter().map(|s| s.to_string()).collect();
    Perks::parse(&raw).unwrap()
}

fn details(name: &str, price: i64) -> PlanDetails {
    PlanDetails {
        name: PlanName::parse(name).unwrap(),
        description: PlanDescription::default(),
        price_cents: PriceCents::try_from(price).unwrap(),
        currency: Currency::parse("USD").unwrap(),
        interval: BillingInterval::Month,
        perks: perks(&["ad-free"]),
    }
}

fn created(name: &str, price: i64) -> PlanEvent {
    PlanEvent::PlanCreated {
        plan_id: PLAN,
        details: details(name, price),
    }
}

fn price(cents: i64) -> Option<PriceCents> {
    Some(PriceCents::try_from(cents).unwrap())
}

// ---- Create ----

#[tokio::test]
async fn creating_a_plan_emits_plan_created() {
    plan()
        .given_no_previous_events()
        .when_async(PlanCommand::Create {
            plan_id: PLAN,
            details: details("Gold", 999),
        })
        .await
        .then_expect_events(vec![created("Gold", 999)]);
}

#[tokio::test]
async fn creating_a_plan_that_already_exists_is_refused() {
    plan()
        .given(vec![created("Gold", 999)])
        .when_async(PlanCommand::Create {
            plan_id: PLAN,
            details: details("Silver", 499),
        })
        .await
        .then_expect_error(PlanError::AlreadyExists);
}

#[tokio::test]
async fn recreating_a_retired_plan_is_refused() {
    plan()
        .given(vec![created("Gold", 999), PlanEvent::PlanRetired {}])
        .when_async(PlanCommand::Create {
            plan_id: PLAN,
            details: details("Gold", 999),
        })
        .await
        .then_expect_error(PlanError::AlreadyExists);
}

// ---- Change ----

#[tokio::test]
async fn changing_a_plan_emits_only_the_fields_that_differ() {
    let changes = PlanChanges {
        name: Some(PlanName::parse("Gold").unwrap()), // unchanged
        price_cents: price(1299),
        interval: Some(BillingInterval::Month), // unchanged
        perks: Some(perks(&["ad-free", "offline"])),
        ..PlanChanges::default()
    };
    let expected = PlanChanges {
        price_cents: price(1299),
        perks: Some(perks(&["ad-free", "offline"])),
        ..PlanChanges::default()
    };
    plan()
        .given(vec![created("Gold", 999)])
        .when_async(PlanCommand::Change(changes))
        .await
        .then_expect_events(vec![PlanEvent::PlanChanged { changes: expected }]);
}

#[tokio::test]
async fn changing_every_field_of_a_plan_emits_every_field() {
    let changes = PlanChanges {
        name: Some(PlanName::parse("Platinum").unwrap()),
        description: Some(PlanDescription::parse("Everything, early.").unwrap()),
        price_cents: price(9900),
        currency: Some(Currency::parse("EUR").unwrap()),
        interval: Some(BillingInterval::Year),
        perks: Some(perks(&["early-access"])),
    };
    plan()
        .given(vec![created("Gold", 999)])
        .when_async(PlanCommand::Change(changes.clone()))
        .await
        .then_expect_events(vec![PlanEvent::PlanChanged { changes }]);
}

#[tokio::test]
async fn a_change_to_the_current_values_emits_nothing() {
    let changes = PlanChanges {
        name: Some(PlanName::parse("Gold").unwrap()),
        price_cents: price(999),
        currency: Some(Currency::parse("USD").unwrap()),
        ..PlanChanges::default()
    };
    plan()
        .given(vec![created("Gold", 999)])
        .when_async(PlanCommand::Change(changes))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn an_empty_change_emits_nothing() {
    plan()
        .given(vec![created("Gold", 999)])
        .when_async(PlanCommand::Change(PlanChanges::default()))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn a_change_is_compared_with_the_plan_as_already_changed() {
    let cheaper = PlanChanges {
        price_cents: price(499),
        ..PlanChanges::default()
    };
    plan()
        .given(vec![
            created("Gold", 999),
            PlanEvent::PlanChanged {
                changes: cheaper.clone(),
            },
        ])
        .when_async(PlanCommand::Change(cheaper))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn changing_a_plan_that_was_never_created_is_refused() {
    plan()
        .given_no_previous_events()
        .when_async(PlanCommand::Change(PlanChanges {
            price_cents: price(1),
            ..PlanChanges::default()
        }))
        .await
        .then_expect_error(PlanError::NotFound);
}

#[tokio::test]
async fn changing_a_retired_plan_is_refused() {
    plan()
        .given(vec![created("Gold", 999), PlanEvent::PlanRetired {}])
        .when_async(PlanCommand::Change(PlanChanges {
            price_cents: price(1),
            ..PlanChanges::default()
        }))
        .await
        .then_expect_error(PlanError::NotFound);
}

#[tokio::test]
async fn even_an_empty_change_of_a_retired_plan_is_refused() {
    plan()
        .given(vec![created("Gold", 999), PlanEvent::PlanRetired {}])
        .when_async(PlanCommand::Change(PlanChanges::default()))
        .await
        .then_expect_error(PlanError::NotFound);
}

// ---- Retire ----

#[tokio::test]
async fn retiring_a_plan_emits_plan_retired() {
    plan()
        .given(vec![created("Gold", 999)])
        .when_async(PlanCommand::Retire)
        .await
        .then_expect_events(vec![PlanEvent::PlanRetired {}]);
}

#[tokio::test]
async fn retiring_a_changed_plan_emits_plan_retired() {
    plan()
        .given(vec![
            created("Gold", 999),
            PlanEvent::PlanChanged {
                changes: PlanChanges {
                    price_cents: price(0),
                    ..PlanChanges::default()
                },
            },
        ])
        .when_async(PlanCommand::Retire)
        .await
        .then_expect_events(vec![PlanEvent::PlanRetired {}]);
}

#[tokio::test]
async fn retiring_a_plan_twice_is_refused() {
    plan()
        .given(vec![created("Gold", 999), PlanEvent::PlanRetired {}])
        .when_async(PlanCommand::Retire)
        .await
        .then_expect_error(PlanError::NotFound);
}

#[tokio::test]
async fn retiring_a_plan_that_was_never_created_is_refused() {
    plan()
        .given_no_previous_events()
        .when_async(PlanCommand::Retire)
        .await
        .then_expect_error(PlanError::NotFound);
}

// ---- State and stored events ----

#[test]
fn applying_the_events_gives_the_changed_plan_then_the_retired_one() {
    let mut state = PremiumPlan::default();
    state.apply(created("Gold", 999));
    state.apply(PlanEvent::PlanChanged {
        changes: PlanChanges {
            name: Some(PlanName::parse("Gold+").unwrap()),
            perks: Some(perks(&["offline", "ad-free"])),
            ..PlanChanges::default()
        },
    });
    let d = state.details.clone().unwrap();
    assert_eq!(d.name.as_str(), "Gold+");
    assert_eq!(d.price_cents.value(), 999);
    let slugs: Vec<_> = d.perks.as_slice().iter().map(Perk::as_str).collect();
    assert_eq!(slugs, ["offline", "ad-free"]);
    assert!(!state.retired);
    state.apply(PlanEvent::PlanRetired {});
    assert!(state.retired);
}

#[test]
fn events_are_stored_as_data_and_read_back_unchanged() {
    let event = PlanEvent::PlanChanged {
        changes: PlanChanges {
            price_cents: price(1299),
            interval: Some(BillingInterval::Year),
            ..PlanChanges::default()
        },
    };
    let json = serde_json::to_value(&event).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"PlanChanged": {"changes": {"price_cents": 1299, "interval": "year"}}})
    );
    assert_eq!(serde_json::from_value::<PlanEvent>(json).unwrap(), event);
    let created = serde_json::to_value(created("Gold", 999)).unwrap();
    assert_eq!(
        created["PlanCreated"]["details"]["currency"],
        serde_json::json!("USD")
    );
    assert_eq!(event.event_type(), "PlanChanged");
    assert_eq!(PremiumPlan::TYPE, "PremiumPlan");
}
