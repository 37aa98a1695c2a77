//! Mints reader tokens into a file, one per line, for load generators that
//! cannot sign JWTs themselves (wrk with `bench/load.lua`).

use std::io::Write;

use crate::client::{self, Tokens};

#[derive(clap::Args)]
pub struct Args {
    /// How many tokens, each for a distinct subject.
    #[arg(long)]
    count: usize,
    /// Where to write them.
    #[arg(long)]
    out: std::path::PathBuf,
    #[arg(long, env = "COMICS_JWT_SECRET")]
    secret: String,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let tag = client::nonce();
    let tokens = Tokens::new(&args.secret)
        .many(args.count, move |i| format!("bench-reader-{tag}-{i}"))
        .await?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(&args.out)?);
    for token in &tokens {
        writeln!(out, "{token}")?;
    }
    out.flush()?;
    println!("tokens {}", tokens.len());
    Ok(())
}
