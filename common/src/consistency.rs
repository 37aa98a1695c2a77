//! The `X-Consistency-Token`: which aggregate versions a write produced, so a
//! read can wait until the projections it uses have applied them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

pub const HEADER: &str = "x-consistency-token";

/// The pseudo aggregate type of a view's mark: its id is the comic's, its
/// sequence the views-stream sequence of the batch that holds the view. A
/// read resolves it to the comic's Popularity version once the view
/// recorder has passed that sequence.
pub const VIEWS: &str = "Views";

/// One aggregate at one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsistencyToken {
    pub marks: Vec<Mark>,
}

impl ConsistencyToken {
    pub fn push(&mut self, aggregate_type: &str, aggregate_id: &str, sequence: i64) {
        self.marks
            .retain(|m| !(m.aggregate_type == aggregate_type && m.aggregate_id == aggregate_id));
        self.marks.push(Mark {
            aggregate_type: aggregate_type.into(),
            aggregate_id: aggregate_id.into(),
            sequence,
        });
    }

    /// Marks a view of `comic_id` stored at views-stream `sequence` (see [`VIEWS`]).
    pub fn push_views(&mut self, comic_id: impl std::fmt::Display, sequence: u64) {
        let sequence = i64::try_from(sequence).unwrap_or(i64::MAX);
        self.push(VIEWS, &comic_id.to_string(), sequence);
    }

    pub fn encode(&self) -> String {
        let text = self
            .marks
            .iter()
            .map(|m| format!("{}:{}:{}", m.aggregate_type, m.aggregate_id, m.sequence))
            .collect::<Vec<_>>()
            .join(";");
        URL_SAFE_NO_PAD.encode(format!("v1;{text}"))
    }

    /// Parses a token; `None` if it was not made by [`Self::encode`].
    pub fn decode(token: &str) -> Option<Self> {
        if token.len() > 4096 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(token.trim()).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let body = text.strip_prefix("v1;")?;
        let marks = body
            .split(';')
            .filter(|s| !s.is_empty())
            .map(|part| {
                let mut it = part.splitn(3, ':');
                let (t, id, seq) = (it.next()?, it.next()?, it.next()?);
                Some(Mark {
                    aggregate_type: t.into(),
                    aggregate_id: id.into(),
                    sequence: seq.parse().ok()?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Self { marks })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_round_trips_and_keeps_the_latest_mark_per_aggregate() {
        let mut t = ConsistencyToken::default();
        t.push("Comic", "a", 1);
        t.push("Chapter", "b", 1);
        t.push("Comic", "a", 2);
        let back = ConsistencyToken::decode(&t.encode()).unwrap();
        assert_eq!(back, t);
        assert_eq!(back.marks.len(), 2);
    }

    #[test]
    fn garbage_is_not_a_token() {
        assert!(ConsistencyToken::decode("not a token!").is_none());
        assert!(ConsistencyToken::decode(&URL_SAFE_NO_PAD.encode("v1;Comic:a:x")).is_none());
    }
}
