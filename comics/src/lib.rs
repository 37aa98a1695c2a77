//! Composition of the comics services into one process or several: builds
//! the pools, the NATS connection, the HTTP router and the background tasks
//! (relay, projectors) that a set of [`Roles`] asks for, and runs them under
//! one shutdown signal. `main.rs` only parses the command line.
#![forbid(unsafe_code)]

pub mod app;
pub mod audit;
pub mod docs;
pub mod health;
pub mod migrate;
pub mod openapi;
pub mod pools;
pub mod progress;
pub mod storage_gc;

pub use app::{Application, Roles};
