//! The `comics` command line: parses arguments and hands over to the library.
#![forbid(unsafe_code)]

/// mimalloc, not glibc's malloc: under the rating load glibc spent about a
/// quarter of this process's CPU in malloc and free (fragmentation and
/// consolidation); with mimalloc the process takes about 10 % less CPU per
/// command (bench/run.sh-style runs, same build otherwise).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use comics::app::cancel_on_signal;
use comics::{Application, Roles};
use comics_common::{auth::Jwt, telemetry, Settings};

#[derive(Parser)]
#[command(name = "comics", version, about = "The comics platform backend")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Everything in one process: migrations, relay, projectors, both APIs.
    Serve,
    /// Only the command API (admin and user writes).
    Commands,
    /// Only the query API (public reads).
    Queries,
    /// Only the Postgres → JetStream relay.
    Relay,
    /// Only the projectors.
    Projectors,
    /// Apply database migrations.
    Migrate,
    /// Inspect or rebuild projections.
    Projections {
        #[command(subcommand)]
        command: ProjectionsCommand,
    },
    /// Object storage upkeep.
    Storage {
        #[command(subcommand)]
        command: StorageCommand,
    },
    /// The event log, filtered, oldest first; or `verify` its hash chain.
    Audit(AuditArgs),
    /// Mint a token with the configured secret (development).
    Token {
        #[arg(long)]
        sub: String,
        #[arg(long)]
        admin: bool,
        /// Lifetime such as 30m, 1h, 7d.
        #[arg(long, default_value = "1h")]
        ttl: String,
    },
}

#[derive(Subcommand)]
enum StorageCommand {
    /// Remove stored images that no event names, older than a grace period.
    Gc {
        /// Grace period such as 24h, 90m, 7d (at least the longest upload).
        #[arg(long, default_value = "24h")]
        older_than: String,
    },
}

#[derive(Subcommand)]
enum ProjectionsCommand {
    /// Each projection with its checkpoint and lag.
    List,
    /// Rebuild from the event log while reads are served from the old copy.
    Rebuild {
        /// The projection to rebuild.
        name: Option<String>,
        /// Rebuild every projection.
        #[arg(long, conflicts_with = "name")]
        all: bool,
    },
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
struct AuditArgs {
    #[command(subcommand)]
    command: Option<AuditCommand>,
    #[arg(long)]
    aggregate_type: Option<String>,
    #[arg(long)]
    aggregate_id: Option<String>,
    /// The `sub` that caused the events (`metadata.actor`).
    #[arg(long)]
    actor: Option<String>,
    #[arg(long)]
    event_type: Option<String>,
    /// Recorded at or after this RFC 3339 time.
    #[arg(long, value_parser = parse_time)]
    since: Option<chrono::DateTime<chrono::Utc>>,
    /// Recorded before this RFC 3339 time.
    #[arg(long, value_parser = parse_time)]
    until: Option<chrono::DateTime<chrono::Utc>>,
    /// Print at most this many events (the oldest); all by default.
    #[arg(long)]
    limit: Option<u64>,
    /// One JSON object per line (the API's audit item) instead of a table.
    #[arg(long)]
    json: bool,
    /// Then keep printing new events as they are committed, until Ctrl-C.
    #[arg(long)]
    follow: bool,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the hash chain from the log; compare with the seals and the
    /// published heads. Exits non-zero naming the first bad event.
    Verify,
}

fn parse_time(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("expected an RFC 3339 time such as 2026-01-31T12:00:00Z ({e})"))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let telemetry = match telemetry::init() {
        Ok(telemetry) => telemetry,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let cli = Cli::parse();
    let code = match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    };
    // The exporter's flush blocks: off the runtime's worker threads.
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    code
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let roles = match cli.command {
        Command::Serve => Roles::ALL,
        Command::Commands => Roles {
            commands: true,
            queries: false,
            relay: false,
            projectors: false,
        },
        Command::Queries => Roles {
            commands: false,
            queries: true,
            relay: false,
            projectors: false,
        },
        Command::Relay => Roles {
            commands: false,
            queries: false,
            relay: true,
            projectors: false,
        },
        Command::Projectors => Roles {
            commands: false,
            queries: false,
            relay: false,
            projectors: true,
        },
        Command::Migrate => return comics::migrate::run(&settings).await,
        Command::Projections { command } => return projections(&settings, command).await,
        Command::Audit(args) => return audit(&settings, args).await,
        Command::Token { sub, admin, ttl } => return token(&settings, &sub, admin, &ttl),
        Command::Storage {
            command: StorageCommand::Gc { older_than },
        } => {
            let report = comics::storage_gc::collect(&settings, parse_ttl(&older_than)?).await?;
            println!(
                "examined {}, named {}, unnamed but younger than {older_than} {}, removed {}",
                report.examined, report.named, report.young, report.removed
            );
            return Ok(());
        }
    };
    let app = Application::build(&settings, roles).await?;
    cancel_on_signal(app.shutdown_token());
    app.run_until_stopped().await
}

async fn projections(settings: &Settings, command: ProjectionsCommand) -> anyhow::Result<()> {
    let mut pools = comics::pools::Pools::default();
    // The thumbnails projection stores what a rebuild makes.
    let storage = comics_storage::Storage::from_url(
        settings.storage_url.as_deref(),
        &settings.storage_options,
    )?;
    match command {
        ProjectionsCommand::List => {
            let nats = comics_nats::connect(&settings.nats_url, "comics-cli").await?;
            let js = async_nats::jetstream::new(nats);
            let names = comics_nats::Names::new(&settings.nats_prefix)
                .with_replicas(settings.nats_replicas);
            println!("{:<16} {:>12} {:>10}", "NAME", "CHECKPOINT", "LAG");
            for p in comics_projections::all(&storage) {
                let store = pools.projection(settings, p.info().name).await?;
                let s = comics_projections::status::status(&store, p.as_ref(), &js, &names).await?;
                let checkpoint = s
                    .checkpoint
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "-".into());
                println!("{:<16} {:>12} {:>10}", s.name, checkpoint, s.lag());
            }
        }
        ProjectionsCommand::Rebuild { name, all } => {
            let events = pools.get(&settings.database_url).await?;
            let chosen = match (name, all) {
                (_, true) => comics_projections::all(&storage),
                (Some(name), false) => {
                    vec![
                        comics_projections::by_name(&name, &storage).with_context(|| {
                            format!("no projection named {name:?} (see `comics projections list`)")
                        })?,
                    ]
                }
                (None, false) => anyhow::bail!("name a projection or pass --all"),
            };
            for p in chosen {
                let store = pools.projection(settings, p.info().name).await?;
                let report = comics_projections::rebuild::rebuild_reporting(
                    &events,
                    &store,
                    p.as_ref(),
                    &comics::progress::Meter::for_stderr(),
                )
                .await?;
                println!(
                    "{}: rebuilt from {} events, checkpoint {}",
                    report.name, report.events_applied, report.checkpoint
                );
            }
        }
    }
    Ok(())
}

async fn audit(settings: &Settings, args: AuditArgs) -> anyhow::Result<()> {
    use comics::audit::{Format, Printer};
    let pool = comics_common::db::connect(&settings.database_url, 4).await?;
    let nats = comics_nats::connect(&settings.nats_url, "comics-cli").await?;
    let js = async_nats::jetstream::new(nats);
    let names =
        comics_nats::Names::new(&settings.nats_prefix).with_replicas(settings.nats_replicas);
    if let Some(AuditCommand::Verify) = args.command {
        println!("{}", comics::audit::verify(&pool, &js, &names).await?);
        return Ok(());
    }
    let filter = comics_eventlog::audit::filter::Filter {
        aggregate_type: args.aggregate_type,
        aggregate_id: args.aggregate_id,
        actor: args.actor,
        event_type: args.event_type,
        since: args.since,
        until: args.until,
    };
    let format = if args.json {
        Format::JsonLines
    } else {
        Format::Table
    };
    let mut printer = Printer::new(std::io::stdout().lock(), format);
    let after = comics::audit::list(&pool, &filter, args.limit, &mut printer).await?;
    if args.follow {
        let shutdown = tokio_util::sync::CancellationToken::new();
        cancel_on_signal(shutdown.clone());
        comics::audit::follow(&js, &names, &filter, after, &mut printer, &shutdown).await?;
    }
    Ok(())
}

fn token(settings: &Settings, sub: &str, admin: bool, ttl: &str) -> anyhow::Result<()> {
    let ttl = parse_ttl(ttl)?;
    let roles: &[&str] = if admin { &["admin"] } else { &[] };
    println!("{}", Jwt::new(&settings.jwt).mint(sub, roles, ttl)?);
    Ok(())
}

/// `90s`, `30m`, `1h`, `7d`.
fn parse_ttl(text: &str) -> anyhow::Result<chrono::Duration> {
    let (digits, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: i64 = digits
        .parse()
        .with_context(|| format!("bad --ttl {text:?}: expected e.g. 30m, 1h, 7d"))?;
    Ok(match unit {
        "s" => chrono::Duration::seconds(n),
        "m" => chrono::Duration::minutes(n),
        "h" | "" => chrono::Duration::hours(n),
        "d" => chrono::Duration::days(n),
        _ => anyhow::bail!("bad --ttl {text:?}: the unit must be s, m, h or d"),
    })
}
