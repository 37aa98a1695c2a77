//! The PremiumPlan aggregate: a subscription plan readers can buy (name,
//! price, billing interval, perks). Admins create, change and retire plans;
//! a retired plan is gone: it cannot be changed or retired again, and its id
//! is never reused.

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::values::{BillingInterval, Currency, Perks, PlanDescription, PlanName, PriceCents};

/// The writable fields of a plan, all validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanDetails {
    pub name: PlanName,
    #[serde(default)]
    pub description: PlanDescription,
    pub price_cents: PriceCents,
    pub currency: Currency,
    pub interval: BillingInterval,
    #[serde(default)]
    pub perks: Perks,
}

/// A change to some of a plan's fields; `None` leaves a field as is.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PlanChanges {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<PlanName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<PlanDescription>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_cents: Option<PriceCents>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<BillingInterval>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perks: Option<Perks>,
}

impl PlanChanges {
    /// Keeps only the fields that differ from `current`.
    fn against(self, current: &PlanDetails) -> Self {
        fn keep<T: PartialEq>(new: Option<T>, old: &T) -> Option<T> {
            new.filter(|v| v != old)
        }
        Self {
            name: keep(self.name, &current.name),
            description: keep(self.description, &current.description),
            price_cents: keep(self.price_cents, &current.price_cents),
            currency: keep(self.currency, &current.currency),
            interval: keep(self.interval, &current.interval),
            perks: keep(self.perks, &current.perks),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    fn apply_to(self, d: &mut PlanDetails) {
        macro_rules! set {
            ($($f:ident),+) => { $(if let Some(v) = self.$f { d.$f = v; })+ };
        }
        set!(name, description, price_cents, currency, interval, perks);
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum PlanCommand {
    Create {
        plan_id: Uuid,
        details: PlanDetails,
    },
    /// Change some fields; fields equal to the current ones are left out.
    Change(PlanChanges),
    /// Take the plan off sale for good.
    Retire,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PlanEvent {
    PlanCreated { plan_id: Uuid, details: PlanDetails },
    PlanChanged { changes: PlanChanges },
    PlanRetired {},
}

impl DomainEvent for PlanEvent {
    fn event_type(&self) -> String {
        match self {
            Self::PlanCreated { .. } => "PlanCreated",
            Self::PlanChanged { .. } => "PlanChanged",
            Self::PlanRetired {} => "PlanRetired",
        }
        .to_string()
    }
    fn event_version(&self) -> String {
        "1".to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// Never created, or retired.
    #[error("plan not found")]
    NotFound,
    #[error("plan already exists")]
    AlreadyExists,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PremiumPlan {
    pub details: Option<PlanDetails>,
    pub retired: bool,
}

impl PremiumPlan {
    fn live(&self) -> Result<&PlanDetails, PlanError> {
        match (&self.details, self.retired) {
            (Some(d), false) => Ok(d),
            _ => Err(PlanError::NotFound),
        }
    }
}

impl Aggregate for PremiumPlan {
    const TYPE: &'static str = crate::aggregate_types::PREMIUM_PLAN;
    type Command = PlanCommand;
    type Event = PlanEvent;
    type Error = PlanError;
    /// Nothing outside a plan decides about it.
    type Services = ();

    async fn handle(
        &mut self,
        command: PlanCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), PlanError> {
        match command {
            PlanCommand::Create { plan_id, details } => {
                if self.details.is_some() {
                    return Err(PlanError::AlreadyExists);
                }
                sink.write(PlanEvent::PlanCreated { plan_id, details }, self)
                    .await;
            }
            PlanCommand::Change(changes) => {
                let changes = changes.against(self.live()?);
                if !changes.is_empty() {
                    sink.write(PlanEvent::PlanChanged { changes }, self).await;
                }
            }
            PlanCommand::Retire => {
                self.live()?;
                sink.write(PlanEvent::PlanRetired {}, self).await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: PlanEvent) {
        match event {
            PlanEvent::PlanCreated { details, .. } => self.details = Some(details),
            PlanEvent::PlanChanged { changes } => {
                if let Some(d) = self.details.as_mut() {
                    changes.apply_to(d);
                }
            }
            PlanEvent::PlanRetired {} => self.retired = true,
        }
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
