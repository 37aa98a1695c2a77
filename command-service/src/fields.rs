//! Collecting every broken rule of a request body into one 422, and the
//! patch semantics of change bodies (a field absent, `null` or set).

use comics_common::problem::FieldProblem;
use comics_common::Problem;
use comics_domain::values::FieldError;
use serde::Deserialize;

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

/// Tells an explicit `null` (`Some(None)`) from a missing field (`None`).
pub fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `null` is refused for a field that cannot be empty.
pub fn required<T>(field: &str, raw: Option<Option<T>>) -> Result<Option<T>, FieldError> {
    match raw {
        Some(None) => Err(FieldError::new(field, "cannot be null")),
        Some(Some(v)) => Ok(Some(v)),
        None => Ok(None),
    }
}

/// `null` clears a field: it means the empty value.
pub fn clearable<T: Default>(raw: Option<Option<T>>) -> Option<T> {
    raw.map(Option::unwrap_or_default)
}
