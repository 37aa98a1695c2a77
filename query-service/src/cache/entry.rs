//! A kept answer, and the two facts a handler may attach to an answer for
//! the cache: which comic it is about ([`Scope`]), and the comic's votes
//! behind the Bayesian average it shows ([`Rerate`]).
//!
//! The Bayesian average mixes the comic's own votes with the global mean of
//! all votes, which every rating anywhere moves. Rather than recompute every
//! comic's answer on each rating, a kept answer is re-rated when served: its
//! `"bayesian"` value is replaced by the same formula over the comic's votes
//! and the current global [`Prior`] (refreshed at most once per half max age).

use std::time::Instant;

use axum::body::Bytes;
use axum::http::HeaderValue;
use uuid::Uuid;

/// Response extension: the answer shows comic `0` only, so it stays valid
/// until that comic changes (collections attach none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope(pub Uuid);

/// Response extension: the answer's `"bayesian"` is that of a comic with
/// `votes` votes averaging `average`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rerate {
    pub votes: i64,
    pub average: f64,
}

/// What a handler answers about one comic: the cache's [`Scope`], what to
/// re-rate the kept answer with (nothing without votes), and the body.
pub type ComicAnswer<T> = (
    axum::Extension<Scope>,
    Option<axum::Extension<Rerate>>,
    axum::Json<T>,
);

/// The global terms of the Bayesian average: `m` (all votes ÷ rated comics)
/// and `a` (the mean of all votes), as `ratings::stats::RATED` computes them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prior {
    pub m: f64,
    pub a: f64,
}

impl Rerate {
    /// `(n·a + m·A) / (n + m)`, in the same floating-point steps as the SQL.
    pub fn bayesian(self, prior: Prior) -> f64 {
        let n = self.votes as f64;
        (n * self.average + prior.m * prior.a) / (n + prior.m)
    }
}

/// A kept answer.
pub struct Entry {
    /// The projections it was computed from.
    pub deps: std::sync::Arc<[comics_common::projections::ProjectionInfo]>,
    /// The change counter before it was computed.
    pub stamp: u64,
    pub computed_at: Instant,
    /// When the clock alone makes it out of date (view windows).
    pub expires: Option<Instant>,
    pub scope: Option<Scope>,
    pub content_type: HeaderValue,
    /// The route template that computed it, for the request metrics.
    pub route: Option<comics_common::metrics::Route>,
    pub body: Body,
}

/// A kept body: as computed, or cut around its `"bayesian"` value.
pub enum Body {
    Plain(Bytes),
    Rerated {
        before: Bytes,
        after: Bytes,
        rerate: Rerate,
    },
}

const KEY: &[u8] = b"\"bayesian\":";

impl Body {
    /// `body` kept whole, or cut around the value of its first `"bayesian"`
    /// key when it is to be re-rated. In JSON the key's quotes cannot occur
    /// unescaped inside a string, so the first match is the key.
    pub fn new(body: Bytes, rerate: Option<Rerate>) -> Self {
        let Some(rerate) = rerate else {
            return Body::Plain(body);
        };
        let Some(at) = body.windows(KEY.len()).position(|w| w == KEY) else {
            return Body::Plain(body);
        };
        let start = at + KEY.len();
        let Some(len) = body[start..].iter().position(|b| *b == b',' || *b == b'}') else {
            return Body::Plain(body);
        };
        Body::Rerated {
            before: body.slice(..start),
            after: body.slice(start + len..),
            rerate,
        }
    }

    /// The body to send; `None` when it needs a prior that is not known.
    pub fn render(&self, prior: Option<Prior>) -> Option<Bytes> {
        match self {
            Body::Plain(body) => Some(body.clone()),
            Body::Rerated {
                before,
                after,
                rerate,
            } => {
                let value = serde_json::to_vec(&rerate.bayesian(prior?)).ok()?;
                let mut out = Vec::with_capacity(before.len() + value.len() + after.len());
                out.extend_from_slice(before);
                out.extend_from_slice(&value);
                out.extend_from_slice(after);
                Some(out.into())
            }
        }
    }

    /// Bytes held, for the memory bound.
    pub fn len(&self) -> usize {
        match self {
            Body::Plain(body) => body.len(),
            Body::Rerated { before, after, .. } => before.len() + after.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_answer_is_rerated_with_the_current_prior() {
        let body = Bytes::from_static(
            br#"{"title":"\"bayesian\":1","rating":{"average":8.0,"bayesian":7.5,"count":2},"x":1}"#,
        );
        let rerate = Rerate {
            votes: 2,
            average: 8.0,
        };
        let kept = Body::new(body, Some(rerate));
        let prior = Prior { m: 2.0, a: 6.0 };
        let shown = kept.render(Some(prior)).unwrap();
        assert_eq!(
            std::str::from_utf8(&shown).unwrap(),
            r#"{"title":"\"bayesian\":1","rating":{"average":8.0,"bayesian":7.0,"count":2},"x":1}"#
        );
        assert!(kept.render(None).is_none(), "no prior, no answer");
    }
}
