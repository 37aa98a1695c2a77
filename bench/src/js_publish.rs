//! The JetStream baseline of the catch-up: how fast the server takes
//! pipelined publishes with acknowledgements, in windows like the relay's,
//! into a scratch stream of its own (deleted after).

use std::time::Instant;

use async_nats::jetstream::{self, context::PublishAckFuture, stream};

use crate::stats::{emit, emit_f};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    nats: String,
    /// The scratch stream (and its subject).
    #[arg(long)]
    stream: String,
    #[arg(long, default_value_t = 100_000)]
    count: usize,
    /// The payload's size in bytes (about an event record's).
    #[arg(long, default_value_t = 400)]
    size: usize,
    /// Publishes in flight before their acknowledgements are awaited.
    #[arg(long, default_value_t = 512)]
    window: usize,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let client = async_nats::connect(&args.nats).await?;
    let js = jetstream::new(client);
    let _ = js.delete_stream(&args.stream).await;
    js.create_stream(stream::Config {
        name: args.stream.clone(),
        subjects: vec![format!("{}.>", args.stream)],
        ..Default::default()
    })
    .await?;
    let payload = bytes::Bytes::from(vec![b'x'; args.size]);
    let subject = format!("{}.x", args.stream);
    let started = Instant::now();
    let mut acks: Vec<PublishAckFuture> = Vec::with_capacity(args.window);
    for _ in 0..args.count {
        acks.push(js.publish(subject.clone(), payload.clone()).await?);
        if acks.len() == args.window {
            for ack in acks.drain(..) {
                ack.await?;
            }
        }
    }
    for ack in acks {
        ack.await?;
    }
    let took = started.elapsed();
    let _ = js.delete_stream(&args.stream).await;
    emit("js_publish_count", args.count);
    emit_f("js_publish_per_sec", args.count as f64 / took.as_secs_f64());
    Ok(())
}
