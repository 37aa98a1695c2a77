//! The view intake: views handed to this process's batcher, published to
//! JetStream in batches, each view answered once the batch holding it is
//! stored (or could not be).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, message::PublishMessage};
use comics_nats::Names;
use tokio::sync::{mpsc, oneshot, Semaphore};
use uuid::Uuid;

use super::batch::{ViewBatch, MAX_VIEWS};

/// How long a comic found live is trusted without asking the event store.
const LIVE_FOR: Duration = Duration::from_secs(30);
/// Batches published and not yet acknowledged, at most.
const IN_FLIGHT: usize = 1;
/// Views waiting for the batcher beyond this make requests wait for room.
const QUEUE: usize = 20_000;
/// How long a view waits to be stored before it is answered 503.
const STORE_WAIT: Duration = Duration::from_secs(5);

pub struct ViewIntake {
    live: Mutex<HashMap<Uuid, Instant>>,
    batcher: mpsc::Sender<Accepted>,
}

/// A view waiting for its batch to be stored: at which views-stream
/// sequence, or `None` if it could not be.
struct Accepted {
    comic_id: Uuid,
    reader: String,
    stored: oneshot::Sender<Option<u64>>,
}

impl ViewIntake {
    /// Starts the batcher publishing to `names`' views stream.
    pub fn new(js: jetstream::Context, names: Names) -> Self {
        let (batcher, views) = mpsc::channel(QUEUE);
        tokio::spawn(publish_batches(js, names, views));
        Self {
            live: Mutex::new(HashMap::new()),
            batcher,
        }
    }

    /// Resolves once the view is durably in the stream (with the stream
    /// sequence of its batch), or could not be stored (`None`).
    /// Gives up after [`STORE_WAIT`] (NATS down: each batch waits out its
    /// acknowledgement timeout, and views queue behind it); a view stored
    /// after all is not counted twice when the client retries (once per
    /// reader and comic per 10 minutes).
    pub(super) async fn store(&self, comic_id: Uuid, reader: String) -> Option<u64> {
        let (stored, answer) = oneshot::channel();
        let view = Accepted {
            comic_id,
            reader,
            stored,
        };
        let stored = async {
            self.batcher.send(view).await.ok()?;
            answer.await.unwrap_or(None)
        };
        tokio::time::timeout(STORE_WAIT, stored)
            .await
            .ok()
            .flatten()
    }

    pub(super) fn recently_live(&self, comic_id: Uuid) -> bool {
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.get(&comic_id)
            .is_some_and(|seen| seen.elapsed() < LIVE_FOR)
    }

    /// Forgets that a comic was live (it was deleted through this process).
    pub fn forget(&self, comic_id: Uuid) {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.remove(&comic_id);
    }

    pub(super) fn remember(&self, comic_id: Uuid) {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        if live.len() > 100_000 {
            live.retain(|_, seen| seen.elapsed() < LIVE_FOR);
        }
        live.insert(comic_id, Instant::now());
    }
}

/// Publishes the views waiting as one message as soon as fewer than
/// [`IN_FLIGHT`] batches await their acknowledgement; while they do, views
/// gather (up to [`MAX_VIEWS`] a batch). Each batch's views are answered
/// when its acknowledgement arrives. Light load: a view goes alone at once;
/// heavy load: few, large messages.
async fn publish_batches(
    js: jetstream::Context,
    names: Names,
    mut views: mpsc::Receiver<Accepted>,
) {
    let subject = names.views_batch_subject();
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    while let Some(first) = views.recv().await {
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let mut waiting = vec![first];
        while waiting.len() < MAX_VIEWS {
            match views.try_recv() {
                Ok(view) => waiting.push(view),
                Err(_) => break,
            }
        }
        let (batch, answers) = batch_of(waiting);
        let published = match serde_json::to_vec(&batch) {
            Ok(payload) => js
                .send_publish(
                    subject.clone(),
                    PublishMessage::build().payload(payload.into()),
                )
                .await
                .map_err(anyhow::Error::from),
            Err(e) => Err(e.into()),
        };
        match published {
            Ok(ack) => {
                tokio::spawn(async move {
                    let _permit = permit;
                    let stored = match ack.await {
                        Ok(ack) => {
                            metrics::counter!("comics_view_batches_total").increment(1);
                            metrics::counter!("comics_views_accepted_total")
                                .increment(answers.len() as u64);
                            Some(ack.sequence)
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, views = answers.len(), "a batch of views was not stored");
                            None
                        }
                    };
                    for answer in answers {
                        let _ = answer.send(stored);
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, views = answers.len(), "cannot publish a batch of views");
                for answer in answers {
                    let _ = answer.send(None);
                }
            }
        }
    }
}

/// The views `waiting` as one batch, and where each one's answer goes.
fn batch_of(waiting: Vec<Accepted>) -> (ViewBatch, Vec<oneshot::Sender<Option<u64>>>) {
    let mut batch = ViewBatch::default();
    let mut answers = Vec::with_capacity(waiting.len());
    for view in waiting {
        batch
            .comics
            .entry(view.comic_id)
            .or_default()
            .push(view.reader);
        answers.push(view.stored);
    }
    (batch, answers)
}
