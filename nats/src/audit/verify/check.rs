//! The walk of `comics audit verify`: the log in commit order beside the
//! seals by chain index and the published heads, event by event.

use std::collections::{BTreeMap, HashMap};

use anyhow::Context;
use comics_eventlog::audit::chain::{self, Seal, GENESIS};
use comics_eventlog::{CommitCursor, EventRecord};
use futures::{Stream, StreamExt};

use super::{failure, Failure, Verification};
use crate::audit::heads::Head;

/// The most events kept for finding the culprit between two heads.
const WINDOW: usize = 100_000;

/// One row of `audit_seals`, read by chain index.
#[derive(sqlx::FromRow)]
pub(super) struct SealRow {
    chain_index: i64,
    tx_id: i64,
    position: i64,
    aggregate_type: String,
    aggregate_id: String,
    sequence: i64,
    seal: Vec<u8>,
    stream_sequence: i64,
}

impl SealRow {
    fn failure(&self, reason: impl Into<String>) -> Failure {
        Failure {
            chain_index: self.chain_index,
            position: self.position,
            aggregate_type: self.aggregate_type.clone(),
            aggregate_id: self.aggregate_id.clone(),
            sequence: self.sequence,
            reason: reason.into(),
        }
    }

    fn names(&self, e: &EventRecord) -> bool {
        self.position == e.position
            && self.sequence == e.sequence
            && self.aggregate_type == e.aggregate_type
            && self.aggregate_id == e.aggregate_id
    }
}

/// The walk's state.
pub(super) struct Check {
    heads: BTreeMap<i64, Head>,
    index: i64,
    sealed: i64,
    stored: Seal,
    computed: Seal,
    /// Each aggregate's last sequence, by type then id.
    sequences: HashMap<String, HashMap<String, i64>>,
    heads_checked: usize,
    last_good_head: Option<i64>,
    /// The events since the last matching head: chain index, stream
    /// sequence, position.
    window: Vec<(i64, Option<i64>, i64)>,
    failure: Option<Failure>,
    /// A head did not match: the window to search.
    rewritten: Option<Rewritten>,
}

/// Events and seals rewritten together: the head that caught it, and the
/// events since the last head that matched.
pub(super) struct Rewritten {
    pub(super) head: Head,
    pub(super) last_good_head: Option<i64>,
    pub(super) window: Vec<(i64, Option<i64>, i64)>,
}

impl Check {
    pub(super) fn new(heads: BTreeMap<i64, Head>) -> Self {
        Self {
            heads,
            index: 0,
            sealed: 0,
            stored: GENESIS,
            computed: GENESIS,
            sequences: HashMap::new(),
            heads_checked: 0,
            last_good_head: None,
            window: Vec::new(),
            failure: None,
            rewritten: None,
        }
    }

    pub(super) async fn run(
        &mut self,
        mut events: impl Stream<Item = sqlx::Result<(CommitCursor, EventRecord)>> + Unpin,
        mut seals: impl Stream<Item = sqlx::Result<SealRow>> + Unpin,
    ) -> anyhow::Result<()> {
        let mut seal = seals.next().await.transpose()?;
        while let Some(item) = events.next().await {
            let (cursor, event) = item.context("cannot read the event log")?;
            self.index += 1;
            let this = seal.take();
            if let Err(f) = self.event(cursor, &event, this.as_ref()) {
                self.failure = Some(f);
                return Ok(());
            }
            if this.is_some() {
                seal = seals.next().await.transpose()?;
            }
            if self.rewritten.is_some() {
                return Ok(());
            }
        }
        if let Some(s) = seal {
            self.failure =
                Some(s.failure("the event sealed here is missing from the log: deleted"));
        } else if let Some((_, head)) = self.heads.range(self.index + 1..).next() {
            self.failure = Some(Failure {
                chain_index: head.chain_index,
                position: head.position,
                aggregate_type: head.aggregate_type.clone(),
                aggregate_id: head.aggregate_id.clone(),
                sequence: head.sequence,
                reason: format!(
                    "the log ends at chain #{} but a head was published for this event: \
                     events were deleted from the end of the log with their seals",
                    self.index
                ),
            });
        }
        Ok(())
    }

    /// Checks event `cursor`/`e`, the next in the log, against `seal`, the
    /// next seal (none past the last one), its aggregate's previous sequence
    /// and the head published for it, if any.
    fn event(
        &mut self,
        cursor: CommitCursor,
        e: &EventRecord,
        seal: Option<&SealRow>,
    ) -> Result<(), Failure> {
        let i = self.index;
        let previous = self.computed;
        self.computed = chain::seal(&previous, e);
        if let Some(s) = seal {
            self.sealed_as(cursor, e, s, &previous)?;
        }
        self.follows_its_aggregate(e)?;
        if self.window.len() < WINDOW {
            self.window
                .push((i, seal.map(|s| s.stream_sequence), e.position));
        }
        self.compare_head(e);
        Ok(())
    }

    /// Whether `s` is the seal of `e`, the event after `previous` (its
    /// chain recomputed): the event it names, and its stored seal.
    fn sealed_as(
        &mut self,
        cursor: CommitCursor,
        e: &EventRecord,
        s: &SealRow,
        previous: &Seal,
    ) -> Result<(), Failure> {
        let i = self.index;
        if s.chain_index != i {
            return Err(s.failure(format!(
                "the seal of chain #{i} is missing (the seals jump to #{})",
                s.chain_index
            )));
        }
        if !s.names(e) {
            let sealed_first = (s.tx_id, s.position) < (cursor.tx_id, cursor.position);
            return Err(if sealed_first {
                s.failure("the event sealed here is missing from the log: deleted")
            } else {
                failure(
                    i,
                    e,
                    "this event is not in the seal chain: inserted into the log",
                )
            });
        }
        let expected = if self.stored == *previous {
            self.computed
        } else {
            chain::seal(&self.stored, e)
        };
        if expected.as_slice() != s.seal.as_slice() {
            return Err(failure(
                i,
                e,
                "the event differs from what was sealed: edited (or its seal was)",
            ));
        }
        self.stored = expected;
        self.sealed += 1;
        Ok(())
    }

    /// Whether `e`'s sequence follows its aggregate's previous one.
    fn follows_its_aggregate(&mut self, e: &EventRecord) -> Result<(), Failure> {
        let ids = match self.sequences.get_mut(&e.aggregate_type) {
            Some(ids) => ids,
            None => self.sequences.entry(e.aggregate_type.clone()).or_default(),
        };
        let last = match ids.get_mut(&e.aggregate_id) {
            Some(last) => Some(std::mem::replace(last, e.sequence)),
            None => ids.insert(e.aggregate_id.clone(), e.sequence),
        };
        if let Some(last) = last.filter(|l| e.sequence != l + 1) {
            return Err(failure(
                self.index,
                e,
                format!(
                    "sequence {} follows {last} in its aggregate: inserted, deleted or reordered",
                    e.sequence
                ),
            ));
        }
        Ok(())
    }

    /// Where a head was published for `e`, whether the chain recomputed from
    /// the log gives it; if not, what was rewritten is to be searched.
    fn compare_head(&mut self, e: &EventRecord) {
        let i = self.index;
        if let Some(head) = self.heads.get(&i) {
            self.heads_checked += 1;
            if head.seal == chain::hex(&self.computed) && head.position == e.position {
                self.last_good_head = Some(i);
                self.window.clear();
            } else {
                self.rewritten = Some(Rewritten {
                    head: head.clone(),
                    last_good_head: self.last_good_head,
                    window: std::mem::take(&mut self.window),
                });
            }
        }
    }

    pub(super) fn finish(self) -> (Verification, Option<Rewritten>) {
        (
            Verification {
                events: self.index,
                sealed: self.sealed,
                heads_checked: self.heads_checked,
                head: self.computed,
                failure: self.failure,
            },
            self.rewritten,
        )
    }
}
