//! `comics-bench`: the load generators and the ceiling server that
//! `bench/run.sh` drives. Every subcommand prints its results as
//! machine-readable `name value` lines on stdout (progress goes to stderr).
#![forbid(unsafe_code)]

/// The same allocator as the `comics` binary, so the ceiling server differs
/// from the service only in what it does per request.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod audit_probe;
mod catalog_data;
mod catch_up;
mod ceiling;
mod client;
mod js_publish;
mod lag;
mod pages;
mod probe;
mod seed;
mod seed_catalog;
mod seed_ratings;
mod seed_views;
mod stats;
mod streams;
mod tokens;
mod walk;
mod writes;
mod zipf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "comics-bench",
    about = "Benchmarks of the comics backend (see bench/run.sh)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A minimal axum server answering every GET with a fixed JSON body of
    /// `--size` bytes: the ceiling the read endpoints are compared with.
    Ceiling(ceiling::Args),
    /// Creates comics with a few ratings and views, and prints their ids.
    Seed(seed::Args),
    /// Command-to-visible lag of a comic's title under a write load.
    Lag(lag::Args),
    /// Deletes JetStream streams (a missing one is fine).
    DropStreams(streams::Args),
    /// Writes reader tokens to a file, one per line (for wrk).
    Tokens(tokens::Args),
    /// A paced background load of ratings and views over many comics.
    Writes(writes::Args),
    /// Appends synthetic view history (ViewsRecorded events) to the event store.
    SeedViews(seed_views::Args),
    /// Creates a catalog of many comics through the API in parallel, with
    /// titles in several scripts; writes their ids and search terms.
    SeedCatalog(seed_catalog::Args),
    /// Walks a comic list by cursor to a depth; prints the cursor there.
    Walk(walk::Args),
    /// Times searches one at a time past the cache, per script of the term.
    ProbeSearch(probe::Args),
    /// Appends synthetic rating history (RatingGiven events) to the event store.
    SeedRatings(seed_ratings::Args),
    /// Times the relay and projections catching up after a NATS outage.
    CatchUp(catch_up::Args),
    /// Pipelined JetStream publishes into a scratch stream: the baseline of
    /// the catch-up.
    JsPublish(js_publish::Args),
    /// Times audit pages per filter, or a walk of the whole log.
    AuditProbe(audit_probe::Args),
    /// Uploads pages: one to read, a throughput run, and the server's RSS
    /// growth during concurrent large uploads.
    Pages(pages::Args),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Ceiling(args) => ceiling::run(args).await,
        Command::Seed(args) => seed::run(args).await,
        Command::Lag(args) => lag::run(args).await,
        Command::DropStreams(args) => streams::run(args).await,
        Command::Tokens(args) => tokens::run(args).await,
        Command::Writes(args) => writes::run(args).await,
        Command::SeedViews(args) => seed_views::run(args).await,
        Command::SeedCatalog(args) => seed_catalog::run(args).await,
        Command::Walk(args) => walk::run(args).await,
        Command::ProbeSearch(args) => probe::run(args).await,
        Command::SeedRatings(args) => seed_ratings::run(args).await,
        Command::CatchUp(args) => catch_up::run(args).await,
        Command::JsPublish(args) => js_publish::run(args).await,
        Command::AuditProbe(args) => audit_probe::run(args).await,
        Command::Pages(args) => pages::run(args).await,
    }
}
