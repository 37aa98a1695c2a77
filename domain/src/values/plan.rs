//! Value types of a premium plan: its name, description, price, currency,
//! billing interval and perks.

use super::{bounded_text, FieldError};
use serde::{Deserialize, Serialize};

/// A plan's name: 1–100 characters after trimming.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PlanName(String);

impl PlanName {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        bounded_text("name", raw, 1, 100).map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The key plans with the same price sort by: the name in lower case
    /// (Unicode rules, so the order does not depend on a database locale).
    pub fn sort_key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A plan's description: at most 2000 characters after trimming.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PlanDescription(String);

impl PlanDescription {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        bounded_text("description", raw, 0, 2000).map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A price in the currency's minor unit (cents): an integer from 0 (a free
/// plan) to [`PriceCents::MAX`], which keeps every price exact in clients
/// that read JSON numbers as doubles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct PriceCents(i64);

impl PriceCents {
    pub const MAX: i64 = 1_000_000_000_000;

    pub fn value(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for PriceCents {
    type Error = FieldError;

    fn try_from(raw: i64) -> Result<Self, FieldError> {
        if (0..=Self::MAX).contains(&raw) {
            Ok(Self(raw))
        } else {
            Err(FieldError::new(
                "price_cents",
                format!("must be an integer from 0 to {}", Self::MAX),
            ))
        }
    }
}

impl From<PriceCents> for i64 {
    fn from(price: PriceCents) -> i64 {
        price.0
    }
}

/// The ISO 4217 codes a price may be in: every currency and fund code of
/// the standard's list, without those for precious metals, bond-market
/// units, the SDR, testing and "no currency" (XAG, XAU, XPD, XPT, XBA–XBD,
/// XDR, XSU, XUA, XTS, XXX). Sorted, for a binary search.
const ISO_4217: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD",
    "CAD", "CDF", "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUC", "CUP",
    "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP",
    "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS",
    "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW",
    "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD",
    "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN",
    "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR",
    "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SLL",
    "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY",
    "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES",
    "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG", "ZWL",
];

/// An ISO 4217 currency code in upper case, such as `USD`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Currency(String);

impl Currency {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let shaped = raw.len() == 3 && raw.bytes().all(|b| b.is_ascii_uppercase());
        if !shaped {
            return Err(FieldError::new(
                "currency",
                "must be an ISO 4217 code of three upper-case letters, such as USD",
            ));
        }
        if ISO_4217.binary_search(&raw).is_err() {
            return Err(FieldError::new(
                "currency",
                format!("{raw} is not an ISO 4217 currency code"),
            ));
        }
        Ok(Self(raw.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How often a plan is billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BillingInterval {
    Month,
    Year,
}

impl BillingInterval {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        match raw {
            "month" => Ok(Self::Month),
            "year" => Ok(Self::Year),
            _ => Err(FieldError::new("interval", "must be one of: month year")),
        }
    }
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Month => "month",
            Self::Year => "year",
        }
    }
}

/// A perk's slug: `[a-z0-9-]{1,40}`, such as `ad-free`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Perk(String);

impl Perk {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let ok = (1..=40).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Self(raw.to_string()))
        } else {
            Err(FieldError::new(
                field,
                "must be a slug of 1-40 characters from a-z, 0-9 and -",
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A plan's perks: at most 20 distinct slugs, in the order given (a plan
/// page shows them in that order), repeats dropped.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Perks(Vec<Perk>);

impl Perks {
    pub const MAX: usize = 20;

    pub fn parse(raw: &[String]) -> Result<Self, FieldError> {
        if raw.len() > Self::MAX {
            return Err(FieldError::new(
                "perks",
                format!("must have at most {} entries", Self::MAX),
            ));
        }
        let mut perks: Vec<Perk> = Vec::with_capacity(raw.len());
        for (i, slug) in raw.iter().enumerate() {
            let perk = Perk::parse(&format!("perks[{i}]"), slug)?;
            if !perks.contains(&perk) {
                perks.push(perk);
            }
        }
        Ok(Self(perks))
    }
    pub fn as_slice(&self) -> &[Perk] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_trimmed_and_has_one_to_a_hundred_characters() {
        assert_eq!(PlanName::parse("  Gold ").unwrap().as_str(), "Gold");
        assert_eq!(PlanName::parse(" ").unwrap_err().field, "name");
        assert!(PlanName::parse(&"é".repeat(100)).is_ok());
        assert!(PlanName::parse(&"x".repeat(101)).is_err());
        assert!(PlanName::parse("a\u{7}b").is_err());
        assert_eq!(PlanName::parse("Émile").unwrap().sort_key(), "émile");
    }

    #[test]
    fn a_description_may_be_empty_and_has_at_most_two_thousand_characters() {
        assert!(PlanDescription::parse("").is_ok());
        assert!(PlanDescription::parse(&"d".repeat(2000)).is_ok());
        let err = PlanDescription::parse(&"d".repeat(2001)).unwrap_err();
        assert_eq!(err.field, "description");
    }

    #[test]
    fn a_price_is_a_whole_number_of_cents_from_zero() {
        assert_eq!(PriceCents::try_from(0).unwrap().value(), 0);
        assert_eq!(PriceCents::try_from(999).unwrap().value(), 999);
        assert!(PriceCents::try_from(PriceCents::MAX).is_ok());
        assert_eq!(PriceCents::try_from(-1).unwrap_err().field, "price_cents");
        assert!(PriceCents::try_from(PriceCents::MAX + 1).is_err());
        // What is stored can only be read back if it keeps the rule.
        assert!(serde_json::from_str::<PriceCents>("-5").is_err());
    }

    #[test]
    fn a_currency_is_an_iso_4217_code_in_upper_case() {
        for code in ["USD", "EUR", "JPY", "KRW", "XOF"] {
            assert_eq!(Currency::parse(code).unwrap().as_str(), code);
        }
        for bad in ["usd", "Usd", "US", "USDD", "", "U$D", "ÜSD"] {
            assert_eq!(Currency::parse(bad).unwrap_err().field, "currency", "{bad}");
        }
        // Three letters, but no currency of the standard.
        assert!(Currency::parse("ABC")
            .unwrap_err()
            .message
            .contains("not an ISO 4217"));
        assert!(Currency::parse("XAU").is_err(), "gold is not a currency");
        assert!(Currency::parse("XXX").is_err());
    }

    #[test]
    fn the_currency_list_is_sorted_and_made_of_codes() {
        assert!(ISO_4217.windows(2).all(|w| w[0] < w[1]));
        assert!(ISO_4217
            .iter()
            .all(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase())));
    }

    #[test]
    fn an_interval_is_month_or_year() {
        assert_eq!(
            BillingInterval::parse("month").unwrap(),
            BillingInterval::Month
        );
        assert_eq!(BillingInterval::parse("year").unwrap().as_str(), "year");
        for bad in ["Month", "week", "yearly", ""] {
            assert_eq!(BillingInterval::parse(bad).unwrap_err().field, "interval");
        }
    }

    #[test]
    fn perks_are_at_most_twenty_slugs_in_order_without_repeats() {
        let raw: Vec<String> = ["offline", "ad-free", "offline", "hd-4k"]
            .map(String::from)
            .into();
        let perks = Perks::parse(&raw).unwrap();
        let slugs: Vec<_> = perks.as_slice().iter().map(Perk::as_str).collect();
        assert_eq!(slugs, ["offline", "ad-free", "hd-4k"]);
        let twenty: Vec<String> = (0..20).map(|i| format!("perk-{i}")).collect();
        assert!(Perks::parse(&twenty).is_ok());
        let more: Vec<String> = (0..21).map(|i| format!("perk-{i}")).collect();
        assert_eq!(Perks::parse(&more).unwrap_err().field, "perks");
        let bad = Perks::parse(&["ok".into(), "Ad Free".into()]).unwrap_err();
        assert_eq!(bad.field, "perks[1]");
        assert!(Perks::parse(&["x".repeat(41)]).is_err());
        assert!(Perks::parse(&[String::new()]).is_err());
    }
}
