//! Every way a command can be refused, mapped deliberately to problem+json:
//! rule broken → 4xx, concurrent writes beyond the retries → 409, a failed
//! `If-Match` → 412, infrastructure → 503 (retry) or an opaque, logged 500.

use axum::http::StatusCode;
use comics_common::problem::FieldProblem;
use comics_common::Problem;
use comics_domain::{ChapterError, ComicError, LibraryError, PageError, PlanError, RatingError};
use cqrs_es::AggregateError;

use crate::handle::Refused;

pub trait DomainProblem: std::error::Error {
    fn problem(&self) -> Problem;
}

impl DomainProblem for ComicError {
    fn problem(&self) -> Problem {
        match self {
            ComicError::NotFound => Problem::not_found("no such comic"),
            ComicError::AlreadyExists => Problem::conflict("the comic already exists"),
            ComicError::ChapterNumberTaken { .. } => Problem::conflict(self.to_string()),
            ComicError::NoCover => Problem::not_found("the comic has no cover"),
            ComicError::Unavailable(why) => unavailable(why),
        }
    }
}

impl DomainProblem for ChapterError {
    fn problem(&self) -> Problem {
        match self {
            ChapterError::NotFound => Problem::not_found("no such chapter"),
            ChapterError::AlreadyExists => Problem::conflict("the chapter already exists"),
            ChapterError::ComicNotFound => Problem::not_found("no such comic"),
            ChapterError::Unavailable(why) => unavailable(why),
        }
    }
}

impl DomainProblem for PageError {
    fn problem(&self) -> Problem {
        match self {
            PageError::ChapterNotFound => Problem::not_found("no such chapter"),
            PageError::PageNotFound => Problem::not_found("the chapter has no such page"),
            PageError::BadNumber => Problem::validation(vec![FieldProblem {
                field: "number".into(),
                message: "page numbers start at 1".into(),
            }]),
            PageError::NothingToAppend => Problem::validation(vec![FieldProblem {
                field: "file".into(),
                message: "send one or more `file` parts".into(),
            }]),
            PageError::Unavailable(why) => unavailable(why),
        }
    }
}

impl DomainProblem for RatingError {
    fn problem(&self) -> Problem {
        match self {
            RatingError::ComicNotFound => Problem::not_found("no such comic"),
            RatingError::NotRated => Problem::not_found("you have not rated this comic"),
            RatingError::Unavailable(why) => unavailable(why),
        }
    }
}

impl DomainProblem for LibraryError {
    fn problem(&self) -> Problem {
        match self {
            LibraryError::ComicNotFound => Problem::not_found("no such comic"),
            LibraryError::Unavailable(why) => unavailable(why),
        }
    }
}

impl DomainProblem for PlanError {
    fn problem(&self) -> Problem {
        match self {
            PlanError::NotFound => Problem::not_found("no such plan"),
            PlanError::AlreadyExists => Problem::conflict("the plan already exists"),
        }
    }
}

fn unavailable(why: &str) -> Problem {
    tracing::warn!(cause = why, "dependency unavailable");
    Problem::unavailable("the event store is unavailable")
}

impl<E: DomainProblem> From<Refused<E>> for Problem {
    fn from(refused: Refused<E>) -> Self {
        match refused {
            Refused::StaleVersion { current } => Problem::new(
                StatusCode::PRECONDITION_FAILED,
                "stale-version",
                "Precondition failed",
            )
            .with_detail(format!(
                "If-Match names a stale version; the current version is {current}"
            )),
            Refused::Aggregate(e) => aggregate_problem(e),
        }
    }
}

fn aggregate_problem<E: DomainProblem>(e: AggregateError<E>) -> Problem {
    match e {
        AggregateError::UserError(e) => e.problem(),
        AggregateError::AggregateConflict => {
            Problem::conflict("the resource was changed concurrently; retry the request")
        }
        AggregateError::DatabaseConnectionError(cause) => unavailable(&cause.to_string()),
        // postgres-es files every database error but an I/O one as
        // unexpected, a connection the server ended or a pool timeout too.
        AggregateError::UnexpectedError(cause)
            if comics_common::db::is_unavailable_cause(&*cause) =>
        {
            unavailable(&cause.to_string())
        }
        AggregateError::DeserializationError(cause) | AggregateError::UnexpectedError(cause) => {
            Problem::internal(&cause)
        }
    }
}

/// A lock or transaction that could not be had: the database is the cause.
pub fn database(e: sqlx::Error) -> Problem {
    Problem::from(e)
}
