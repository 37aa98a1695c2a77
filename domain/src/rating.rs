//! The Rating aggregate: one user's score of one comic. Its id is derived from
//! the comic and the user, so each user holds at most one rating per comic.

use std::sync::Arc;

use async_trait::async_trait;
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::values::Score;

/// The id of `user`'s rating of `comic_id`: the same inputs always give the
/// same id, different users or comics give different ids.
pub fn rating_id(comic_id: Uuid, user: &str) -> Uuid {
    Uuid::new_v5(&comic_id, format!("rating:{user}").as_bytes())
}

#[derive(Debug, Clone, PartialEq)]
pub enum RatingCommand {
    /// Gives a score, replacing the user's earlier one.
    Rate {
        comic_id: Uuid,
        user: String,
        score: Score,
    },
    /// Removes the user's score.
    Unrate,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RatingEvent {
    /// A score given where there was none (first time, or after a removal).
    RatingGiven {
        comic_id: Uuid,
        user: String,
        score: Score,
    },
    /// A score replacing a different earlier one.
    RatingChanged {
        comic_id: Uuid,
        user: String,
        score: Score,
        previous: Score,
    },
    RatingRemoved {
        comic_id: Uuid,
        user: String,
        previous: Score,
    },
}

impl DomainEvent for RatingEvent {
    fn event_type(&self) -> String {
        match self {
            Self::RatingGiven { .. } => "RatingGiven",
            Self::RatingChanged { .. } => "RatingChanged",
            Self::RatingRemoved { .. } => "RatingRemoved",
        }
        .to_string()
    }
    fn event_version(&self) -> String {
        "1".to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RatingError {
    #[error("comic not found")]
    ComicNotFound,
    #[error("no rating to remove")]
    NotRated,
    #[error("a dependency is unavailable: {0}")]
    Unavailable(String),
}

/// Facts the Rating aggregate needs from outside itself.
#[async_trait]
pub trait RatingServices: Send + Sync {
    /// Whether the comic exists and is not deleted.
    async fn comic_is_live(&self, comic_id: Uuid) -> Result<bool, String>;
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Rating {
    /// The rated comic and the rating user, once a score was ever given.
    pub comic_id: Option<Uuid>,
    pub user: Option<String>,
    /// The current score; `None` if never rated or removed.
    pub score: Option<Score>,
}

impl Aggregate for Rating {
    const TYPE: &'static str = crate::aggregate_types::RATING;
    type Command = RatingCommand;
    type Event = RatingEvent;
    type Error = RatingError;
    type Services = Arc<dyn RatingServices>;

    async fn handle(
        &mut self,
        command: RatingCommand,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), RatingError> {
        match command {
            RatingCommand::Rate {
                comic_id,
                user,
                score,
            } => {
                match services.comic_is_live(comic_id).await {
                    Ok(true) => {}
                    Ok(false) => return Err(RatingError::ComicNotFound),
                    Err(e) => return Err(RatingError::Unavailable(e)),
                }
                let event = match self.score {
                    Some(previous) if previous == score => return Ok(()),
                    Some(previous) => RatingEvent::RatingChanged {
                        comic_id,
                        user,
                        score,
                        previous,
                    },
                    None => RatingEvent::RatingGiven {
                        comic_id,
                        user,
                        score,
                    },
                };
                sink.write(event, self).await;
            }
            RatingCommand::Unrate => {
                let (Some(previous), Some(comic_id), Some(user)) =
                    (self.score, self.comic_id, self.user.clone())
                else {
                    return Err(RatingError::NotRated);
                };
                sink.write(
                    RatingEvent::RatingRemoved {
                        comic_id,
                        user,
                        previous,
                    },
                    self,
                )
                .await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: RatingEvent) {
        match event {
            RatingEvent::RatingGiven {
                comic_id,
                user,
                score,
            }
            | RatingEvent::RatingChanged {
                comic_id,
                user,
                score,
                ..
            } => {
                self.comic_id = Some(comic_id);
                self.user = Some(user);
                self.score = Some(score);
            }
            RatingEvent::RatingRemoved { .. } => self.score = None,
        }
    }
}

#[cfg(test)]
#[path = "rating_tests.rs"]
mod tests;
