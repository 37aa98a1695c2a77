//! One computation of an answer at a time per key: the first request to
//! miss leads, the others that miss meanwhile wait for it and take its answer
//! (a hot comic changed by a write is computed once, not once per reader).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// The keys being computed now.
#[derive(Default)]
pub struct Flights(Mutex<HashMap<String, watch::Receiver<()>>>);

/// Whose turn it is to compute a key.
pub enum Turn {
    /// Compute it; the others wait until this is dropped.
    Lead(Leader),
    /// Another request computes it: wait for [`Turn::Follow`]'s receiver to
    /// close, then look in the cache again.
    Follow(watch::Receiver<()>),
}

/// Held while computing; dropping it (done, failed or cancelled) frees the
/// key and wakes the followers.
pub struct Leader {
    flights: Arc<Flights>,
    key: String,
    _done: watch::Sender<()>,
}

impl Flights {
    /// Leads `key` if nobody does, else follows.
    pub fn join(self: &Arc<Self>, key: &str) -> Turn {
        let mut flights = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(running) = flights.get(key) {
            return Turn::Follow(running.clone());
        }
        let (done, running) = watch::channel(());
        flights.insert(key.to_string(), running);
        Turn::Lead(Leader {
            flights: self.clone(),
            key: key.to_string(),
            _done: done,
        })
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        let mut flights = self.flights.0.lock().unwrap_or_else(|e| e.into_inner());
        flights.remove(&self.key);
    }
}

/// Waits until the leader of a key is done (or `limit` passed).
pub async fn wait(mut running: watch::Receiver<()>, limit: std::time::Duration) {
    // The sender never sends: `changed` returns when it is dropped.
    let _ = tokio::time::timeout(limit, running.changed()).await;
}
