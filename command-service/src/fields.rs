//! Collecting every broken rule of a request body into one 422.

use comics_common::problem::FieldProblem;
use comics_common::Problem;
use comics_domain::values::FieldError;

/// Collects field errors while parsing.
#[derive(Default)]
pub struct Fields(Vec<FieldProblem>);

impl Fields {
    pub fn take<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(FieldProblem {
                    field: e.field,
                    message: e.message,
                });
                None
            }
        }
    }

    pub fn finish(self) -> Result<(), Problem> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Problem::validation(self.0))
        }
    }
}

/// Parses an optional field: absent stays absent.
pub fn opt<T, R>(
    f: &mut Fields,
    raw: Option<R>,
    parse: impl FnOnce(R) -> Result<T, FieldError>,
) -> Option<T> {
    raw.and_then(|r| f.take(parse(r)))
}
