//! What every comics service shares and nothing more: typed configuration,
//! JWT authentication, problem+json errors, the consistency token, the
//! projection registry and telemetry.
#![forbid(unsafe_code)]

pub mod auth;
pub mod client;
pub mod config;
pub mod consistency;
pub mod db;
pub mod http;
pub mod jwks;
pub mod metrics;
pub mod problem;
pub mod projections;
pub mod rate_limit;
pub mod telemetry;

pub use config::Settings;
pub use problem::Problem;
