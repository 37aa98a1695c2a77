//! Deleting JetStream streams with the plain NATS protocol (a request to
//! `$JS.API.STREAM.DELETE.<name>`), so that a benchmark run starts from and
//! leaves behind no stream of its prefix.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

#[derive(clap::Args)]
pub struct Args {
    /// NATS host:port (or nats://host:port).
    #[arg(long, default_value = "127.0.0.1:4222")]
    nats: String,
    /// The streams to delete; a missing one is not an error.
    #[arg(required = true)]
    streams: Vec<String>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let addr = args.nats.trim_start_matches("nats://").to_string();
    tokio::time::timeout(Duration::from_secs(10), async {
        let socket = TcpStream::connect(&addr).await?;
        let (read, mut write) = socket.into_split();
        let mut read = BufReader::new(read);
        let mut line = String::new();
        read.read_line(&mut line).await?;
        anyhow::ensure!(line.starts_with("INFO"), "not a NATS server at {addr}");
        write
            .write_all(b"CONNECT {\"verbose\":false,\"pedantic\":false,\"name\":\"comics-bench\"}\r\nSUB _INBOX.comics-bench.* 1\r\n")
            .await?;
        for (i, stream) in args.streams.iter().enumerate() {
            let request = format!("PUB $JS.API.STREAM.DELETE.{stream} _INBOX.comics-bench.{i} 0\r\n\r\n");
            write.write_all(request.as_bytes()).await?;
            let reply = reply(&mut read, &mut write).await?;
            let deleted = reply.contains("\"success\":true");
            let missing = reply.contains("10059");
            anyhow::ensure!(deleted || missing, "deleting stream {stream}: {reply}");
            eprintln!(
                "stream {stream}: {}",
                if deleted { "deleted" } else { "not there" }
            );
        }
        Ok(())
    })
    .await?
}

/// Reads until the next MSG and answers its payload (PONGs the server's PINGs).
async fn reply(
    read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    write: &mut tokio::net::tcp::OwnedWriteHalf,
) -> anyhow::Result<String> {
    loop {
        let mut line = String::new();
        anyhow::ensure!(
            read.read_line(&mut line).await? > 0,
            "NATS closed the connection"
        );
        let line = line.trim_end();
        if line == "PING" {
            write.write_all(b"PONG\r\n").await?;
        } else if line.starts_with("-ERR") {
            anyhow::bail!("NATS: {line}");
        } else if let Some(rest) = line.strip_prefix("MSG ") {
            let size: usize = rest
                .split_whitespace()
                .last()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| anyhow::anyhow!("bad MSG line: {line}"))?;
            let mut payload = vec![0; size + 2];
            read.read_exact(&mut payload).await?;
            payload.truncate(size);
            return Ok(String::from_utf8_lossy(&payload).into_owned());
        }
    }
}
