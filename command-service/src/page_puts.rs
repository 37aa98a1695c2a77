//! Page uploads to one chapter commit together: `PUT /chapters/{id}/pages/{n}`
//! stores its image, then waits here. Whichever upload of the chapter next
//! holds the comic's lock takes every upload then waiting and runs them as
//! one append ([`Handle::execute_all`]): each command decided on the state
//! the ones before it left, each event with its own request's metadata,
//! one statement and one commit for all. The others are answered without
//! taking the lock themselves.
//!
//! Every command of a chapter is decided under its comic's lock, so a
//! chapter or comic deleted meanwhile refuses the uploads after it, as
//! alone. Four uploads at once to one chapter used to wait in line for a
//! commit each (the chapter's commits are one after another, whoever
//! decides them); now a commit carries what arrived while the previous one
//! ran. The batch runs in a task of its own, so an upload whose client
//! goes away cannot cut the others' commit short. When the batch's load or
//! append fails, its commands run alone, each meeting its own error or
//! retry as before.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use comics_domain::{Page, PageCommand, PageError};
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::handle::{Executed, Handle, Refused};
use crate::locks::ComicLocks;

/// A page command's answer: its outcome, and whether it replaced a page.
pub type PutOutcome = Result<(Executed, bool), Refused<PageError>>;

/// One upload waiting for its chapter's next commit.
struct Waiting {
    ticket: u64,
    command: PageCommand,
    metadata: HashMap<String, String>,
    reply: oneshot::Sender<PutOutcome>,
}

/// The page uploads waiting, by chapter, and what commits them.
pub struct PagePuts {
    pages: Arc<Handle<Page>>,
    locks: ComicLocks,
    waiting: Mutex<(u64, HashMap<Uuid, Vec<Waiting>>)>,
}

/// Why an upload could not be committed at all.
#[derive(Debug)]
pub enum PutFailed {
    /// The comic's lock was not had in time, or the database failed.
    Lock(sqlx::Error),
    /// The task committing it ended without an answer.
    Lost,
}

impl PagePuts {
    /// Commits with `pages`, under `locks`.
    pub fn new(pages: Arc<Handle<Page>>, locks: ComicLocks) -> Self {
        Self {
            pages,
            locks,
            waiting: Mutex::default(),
        }
    }

    /// Runs `command` (a page of `chapter_id`, in comic `comic_id`) with
    /// the uploads to the chapter waiting with it.
    pub async fn put(
        &self,
        comic_id: Uuid,
        chapter_id: Uuid,
        command: PageCommand,
        metadata: HashMap<String, String>,
    ) -> Result<PutOutcome, PutFailed> {
        let (reply, mut answer) = oneshot::channel();
        let ticket = self.wait(chapter_id, command, metadata, reply);
        let lock = tokio::select! {
            biased;
            answered = &mut answer => return answered.map_err(|_| PutFailed::Lost),
            lock = self.locks.lock(comic_id) => lock,
        };
        let lock = match lock {
            Ok(lock) => lock,
            // Withdrawn, it will not be committed; already taken, the
            // commit it is in answers.
            Err(e) if self.withdraw(chapter_id, ticket) => return Err(PutFailed::Lock(e)),
            Err(_) => return answer.await.map_err(|_| PutFailed::Lost),
        };
        let batch = self.take(chapter_id);
        if !batch.is_empty() {
            let pages = self.pages.clone();
            tokio::spawn(async move {
                commit(&pages, chapter_id, batch).await;
                drop(lock);
            });
        }
        answer.await.map_err(|_| PutFailed::Lost)
    }

    fn wait(
        &self,
        chapter_id: Uuid,
        command: PageCommand,
        metadata: HashMap<String, String>,
        reply: oneshot::Sender<PutOutcome>,
    ) -> u64 {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        waiting.0 += 1;
        let ticket = waiting.0;
        waiting.1.entry(chapter_id).or_default().push(Waiting {
            ticket,
            command,
            metadata,
            reply,
        });
        ticket
    }

    /// Takes every upload waiting for `chapter_id`, in arrival order.
    fn take(&self, chapter_id: Uuid) -> Vec<Waiting> {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        waiting.1.remove(&chapter_id).unwrap_or_default()
    }

    /// Takes back the upload `ticket` if it is still waiting.
    fn withdraw(&self, chapter_id: Uuid, ticket: u64) -> bool {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let Some(list) = waiting.1.get_mut(&chapter_id) else {
            return false;
        };
        let before = list.len();
        list.retain(|w| w.ticket != ticket);
        let withdrawn = list.len() < before;
        if list.is_empty() {
            waiting.1.remove(&chapter_id);
        }
        withdrawn
    }
}

/// Whether `command` puts a page where `page` already has one.
fn replaces(page: &Page, command: &PageCommand) -> bool {
    matches!(command, PageCommand::Put { number, .. } if page.pages.contains_key(number))
}

/// Commits `batch` together, or each alone when that fails; answers each.
async fn commit(pages: &Handle<Page>, chapter_id: Uuid, batch: Vec<Waiting>) {
    let commands = batch
        .iter()
        .map(|w| (w.command.clone(), w.metadata.clone()))
        .collect();
    if let Some(outcomes) = pages.execute_all(chapter_id, commands, replaces).await {
        for (waiting, outcome) in batch.into_iter().zip(outcomes) {
            let _ = waiting.reply.send(outcome);
        }
        return;
    }
    for waiting in batch {
        let outcome = async {
            let (current, _) = pages.load(chapter_id).await?;
            let replaced = replaces(&current, &waiting.command);
            let done = pages
                .execute(chapter_id, waiting.command, &waiting.metadata, None)
                .await?;
            Ok((done, replaced))
        };
        let _ = waiting.reply.send(outcome.await);
    }
}
