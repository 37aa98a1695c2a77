//! Request bodies of the plan commands, and their parsing into valid
//! domain values (every broken rule reported at once, as a 422).

use comics_common::Problem;
use comics_domain::plan::{PlanChanges, PlanDetails};
use comics_domain::values::{
    BillingInterval, Currency, FieldError, Perks, PlanDescription, PlanName, PriceCents,
};
use serde::Deserialize;
use serde_json::Value;

use crate::fields::{clearable, opt, present, required, Fields};

/// `price_cents` is read as any JSON value so that a price of the wrong
/// kind (`9.99`, `"999"`) is reported with the other broken rules.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePlan {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[schema(value_type = i64, minimum = 0)]
    pub price_cents: Value,
    pub currency: String,
    pub interval: String,
    #[serde(default)]
    pub perks: Option<Vec<String>>,
}

/// A field left out stays as it is; `null` clears `description` and
/// `perks` and is refused for the others, which cannot be empty.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePlan {
    #[serde(default, deserialize_with = "present")]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, minimum = 0)]
    pub price_cents: Option<Option<Value>>,
    #[serde(default, deserialize_with = "present")]
    pub currency: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub interval: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub perks: Option<Option<Vec<String>>>,
}

/// A price: a JSON integer within [`PriceCents`]'s range.
fn price(raw: &Value) -> Result<PriceCents, FieldError> {
    let whole = raw.as_i64().ok_or_else(|| {
        FieldError::new(
            "price_cents",
            format!("must be an integer from 0 to {}", PriceCents::MAX),
        )
    })?;
    PriceCents::try_from(whole)
}

impl CreatePlan {
    pub fn parse(self) -> Result<PlanDetails, Problem> {
        let mut f = Fields::default();
        let name = f.take(PlanName::parse(&self.name));
        let description = f.take(PlanDescription::parse(
            self.description.as_deref().unwrap_or_default(),
        ));
        let price_cents = f.take(price(&self.price_cents));
        let currency = f.take(Currency::parse(&self.currency));
        let interval = f.take(BillingInterval::parse(&self.interval));
        let perks = f.take(Perks::parse(&self.perks.unwrap_or_default()));
        f.finish()?;
        match (name, description, price_cents, currency, interval, perks) {
            (
                Some(name),
                Some(description),
                Some(price_cents),
                Some(currency),
                Some(interval),
                Some(perks),
            ) => Ok(PlanDetails {
                name,
                description,
                price_cents,
                currency,
                interval,
                perks,
            }),
            _ => Err(Problem::validation(vec![])),
        }
    }
}

impl ChangePlan {
    pub fn parse(self) -> Result<PlanChanges, Problem> {
        let mut f = Fields::default();
        let name = f.take(required("name", self.name)).flatten();
        let price_cents = f.take(required("price_cents", self.price_cents)).flatten();
        let currency = f.take(required("currency", self.currency)).flatten();
        let interval = f.take(required("interval", self.interval)).flatten();
        let changes = PlanChanges {
            name: opt(&mut f, name, |s| PlanName::parse(&s)),
            description: opt(&mut f, clearable(self.description), |s| {
                PlanDescription::parse(&s)
            }),
            price_cents: opt(&mut f, price_cents, |v| price(&v)),
            currency: opt(&mut f, currency, |s| Currency::parse(&s)),
            interval: opt(&mut f, interval, |s| BillingInterval::parse(&s)),
            perks: opt(&mut f, clearable(self.perks), |v| Perks::parse(&v)),
        };
        f.finish()?;
        Ok(changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn create(body: Value) -> Result<PlanDetails, Problem> {
        serde_json::from_value::<CreatePlan>(body).unwrap().parse()
    }

    fn fields(problem: &Problem) -> Vec<&str> {
        problem.errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn a_full_body_becomes_the_plan() {
        let d = create(json!({
            "name": " Gold ", "description": "All chapters", "price_cents": 999,
            "currency": "USD", "interval": "month", "perks": ["ad-free"]
        }))
        .unwrap();
        assert_eq!(d.name.as_str(), "Gold");
        assert_eq!(d.price_cents.value(), 999);
        assert_eq!(d.interval, BillingInterval::Month);
        assert_eq!(d.perks.as_slice().len(), 1);
    }

    #[test]
    fn every_broken_rule_is_reported_at_once() {
        let problem = create(json!({
            "name": "", "description": "d".repeat(2001), "price_cents": 9.99,
            "currency": "usd", "interval": "week", "perks": ["Ad Free"]
        }))
        .unwrap_err();
        assert_eq!(problem.status, 422);
        assert_eq!(
            fields(&problem),
            [
                "name",
                "description",
                "price_cents",
                "currency",
                "interval",
                "perks[0]"
            ]
        );
    }

    #[test]
    fn a_price_must_be_a_whole_number_of_at_least_zero() {
        let body = |price: Value| json!({"name": "n", "price_cents": price, "currency": "EUR", "interval": "year"});
        assert!(create(body(json!(0))).is_ok());
        for bad in [
            json!(-1),
            json!(1.5),
            json!("999"),
            json!(null),
            json!(1e300),
        ] {
            let problem = create(body(bad.clone())).unwrap_err();
            assert_eq!(fields(&problem), ["price_cents"], "{bad}");
        }
    }

    #[test]
    fn null_clears_the_description_and_perks_and_is_refused_for_the_rest() {
        let body: ChangePlan =
            serde_json::from_value(json!({"description": null, "perks": null})).unwrap();
        let changes = body.parse().unwrap();
        assert_eq!(changes.description, Some(PlanDescription::default()));
        assert_eq!(changes.perks, Some(Perks::default()));
        for field in ["name", "price_cents", "currency", "interval"] {
            let body: ChangePlan = serde_json::from_value(json!({ field: null })).unwrap();
            assert_eq!(fields(&body.parse().unwrap_err()), [field]);
        }
    }

    #[test]
    fn an_empty_change_is_no_change() {
        let body: ChangePlan = serde_json::from_value(json!({})).unwrap();
        assert!(body.parse().unwrap().is_empty());
    }

    #[test]
    fn unknown_fields_are_refused() {
        let r: Result<CreatePlan, _> = serde_json::from_value(json!({
            "name": "n", "price_cents": 1, "currency": "USD", "interval": "month", "prise": 2
        }));
        assert!(r.is_err());
        let r: Result<ChangePlan, _> = serde_json::from_value(json!({"nmae": "x"}));
        assert!(r.is_err());
    }
}
