//! The plans projection: the premium plans on sale, one row each, kept in
//! the order `GET /plans` lists them (cheapest first, then by name). A
//! retired plan's row is deleted. Every value comes from the events, so a
//! rebuild reproduces the live rows exactly.

use anyhow::Context;
use async_trait::async_trait;
use comics_common::projections::{Changes, ProjectionInfo, PLANS};
use comics_domain::plan::{PlanChanges, PlanDetails};
use comics_domain::PlanEvent;
use comics_eventlog::EventRecord;
use sqlx::PgConnection;
use uuid::Uuid;

pub struct PlansProjector;

#[async_trait]
impl crate::Projector for PlansProjector {
    fn info(&self) -> ProjectionInfo {
        PLANS
    }

    fn schema_sql(&self) -> &'static str {
        include_str!("schema.sql")
    }

    async fn apply(
        &self,
        db: &mut PgConnection,
        s: &str,
        event: &EventRecord,
    ) -> anyhow::Result<()> {
        let id: Uuid = event
            .aggregate_id
            .parse()
            .context("aggregate id is not a UUID")?;
        let at = Stamp {
            id,
            version: event.sequence,
            at: event.recorded_at,
        };
        match serde_json::from_value(event.tagged_payload())? {
            PlanEvent::PlanCreated { details, .. } => create(db, s, &at, details).await,
            PlanEvent::PlanChanged { changes } => change(db, s, &at, changes).await,
            PlanEvent::PlanRetired {} => retire(db, s, &at).await,
        }
    }

    /// Plans are few and every answer about them is a list or one plan:
    /// any change makes every kept plans answer unusable at once, so a
    /// retired plan is never served from the read cache.
    async fn changes(
        &self,
        _db: &mut PgConnection,
        _schema: &str,
        events: &[&EventRecord],
    ) -> anyhow::Result<Changes> {
        Ok(match events.is_empty() {
            true => Changes::default(),
            false => Changes::everything(),
        })
    }
}

/// The plan, its version after the event, and when the event was recorded.
struct Stamp {
    id: Uuid,
    version: i64,
    at: chrono::DateTime<chrono::Utc>,
}

fn slugs(perks: &comics_domain::values::Perks) -> Vec<String> {
    perks
        .as_slice()
        .iter()
        .map(|p| p.as_str().to_string())
        .collect()
}

async fn create(db: &mut PgConnection, s: &str, at: &Stamp, d: PlanDetails) -> anyhow::Result<()> {
    sqlx::query(&format!(
        "INSERT INTO {s}.plans (id, name, name_key, description, price_cents, currency, \
                                billing_interval, perks, created_at, updated_at, version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10) \
         ON CONFLICT (id) DO NOTHING"
    ))
    .bind(at.id)
    .bind(d.name.as_str())
    .bind(d.name.sort_key())
    .bind(d.description.as_str())
    .bind(d.price_cents.value())
    .bind(d.currency.as_str())
    .bind(d.interval.as_str())
    .bind(slugs(&d.perks))
    .bind(at.at)
    .bind(at.version)
    .execute(&mut *db)
    .await?;
    Ok(())
}

async fn change(db: &mut PgConnection, s: &str, at: &Stamp, c: PlanChanges) -> anyhow::Result<()> {
    sqlx::query(&format!(
        "UPDATE {s}.plans SET \
            name = COALESCE($2, name), \
            name_key = COALESCE($3, name_key), \
            description = COALESCE($4, description), \
            price_cents = COALESCE($5, price_cents), \
            currency = COALESCE($6, currency), \
            billing_interval = COALESCE($7, billing_interval), \
            perks = COALESCE($8, perks), \
            updated_at = $9, version = $10 \
         WHERE id = $1"
    ))
    .bind(at.id)
    .bind(c.name.as_ref().map(|n| n.as_str()))
    .bind(c.name.as_ref().map(|n| n.sort_key()))
    .bind(c.description.as_ref().map(|d| d.as_str()))
    .bind(c.price_cents.map(|p| p.value()))
    .bind(c.currency.as_ref().map(|c| c.as_str()))
    .bind(c.interval.map(|i| i.as_str()))
    .bind(c.perks.as_ref().map(slugs))
    .bind(at.at)
    .bind(at.version)
    .execute(&mut *db)
    .await?;
    Ok(())
}

async fn retire(db: &mut PgConnection, s: &str, at: &Stamp) -> anyhow::Result<()> {
    sqlx::query(&format!("DELETE FROM {s}.plans WHERE id = $1"))
        .bind(at.id)
        .execute(&mut *db)
        .await?;
    Ok(())
}
