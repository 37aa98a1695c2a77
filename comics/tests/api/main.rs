//! The comics system's integration tests, in one test binary (one link of
//! the whole stack instead of one per file). Each module is one former
//! `tests/<name>.rs`, so a test's path still names where it came from
//! (`cargo test -p comics --test api relay::`).
//!
//! Nothing here is process-wide: every test has its own database, NATS
//! prefix, ports and runtime (`support`), logs go through
//! `telemetry::init_for_tests` (which may be called by every test), and no
//! test sets environment variables, so all of them run in parallel in one
//! process.

mod support;
mod tracing_context;

mod api_audit;
mod api_auth;
mod api_bookmarks;
mod api_cache;
mod api_chapter_reads;
mod api_chapters;
mod api_comic_lists;
mod api_comic_validation;
mod api_comics;
mod api_consistency;
mod api_pages;
mod api_plans;
mod api_ratings;
mod api_routing;
mod api_search;
mod api_views;
mod cli_logs;
mod crash;
mod limits;
mod metrics;
mod nats_cluster;
mod openapi;
mod outage;
mod popularity_windows;
mod rebuild;
mod rebuild_engagement;
mod rebuild_popularity;
mod relay;
mod smoke;
