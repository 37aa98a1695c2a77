//! What every list endpoint shares: `limit`/`offset` paging, the
//! `{"items","total","limit","offset"}` envelope, `order`, and 400 problems
//! that name the offending query parameter.

use comics_common::problem::FieldProblem;
use comics_common::Problem;
use serde::{Deserialize, Serialize};

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;
/// Far past any list's end, and small enough that `offset + limit` and the
/// ranks of a page (`offset + 1..`) stay in range: an `offset` near
/// `i64::MAX` was a 500 (bigint out of range in SQL, an overflow in Rust).
pub const MAX_OFFSET: i64 = 1_000_000_000;

/// A validated page request: `limit` in 1..=100, `offset` ≥ 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub limit: i64,
    pub offset: i64,
}

impl Paging {
    pub fn parse(limit: Option<&str>, offset: Option<&str>) -> Result<Self, Problem> {
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(raw) => raw
                .parse::<i64>()
                .ok()
                .filter(|l| (1..=MAX_LIMIT).contains(l))
                .ok_or_else(|| {
                    bad_param("limit", format!("must be an integer from 1 to {MAX_LIMIT}"))
                })?,
        };
        let offset = match offset {
            None => 0,
            Some(raw) => raw
                .parse::<i64>()
                .ok()
                .filter(|o| (0..=MAX_OFFSET).contains(o))
                .ok_or_else(|| {
                    bad_param(
                        "offset",
                        format!("must be an integer from 0 to {MAX_OFFSET}"),
                    )
                })?,
        };
        Ok(Self { limit, offset })
    }

    /// The envelope for one page of a list of `total` items.
    pub fn page<T>(self, items: Vec<T>, total: i64) -> Page<T> {
        Page {
            items,
            total,
            limit: self.limit,
            offset: self.offset,
        }
    }
}

/// One page of a user's rows, and how many there are: `SELECT {columns}
/// FROM {from} WHERE {user_column} = $1 ORDER BY {order}`, paged.
pub async fn user_page<T>(
    pool: &sqlx::PgPool,
    columns: &str,
    from: &str,
    user_column: &str,
    order: &str,
    user: &str,
    paging: Paging,
) -> Result<(Vec<T>, i64), sqlx::Error>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let total: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM {from} WHERE {user_column} = $1"
    ))
    .bind(user)
    .fetch_one(pool)
    .await?;
    let items = sqlx::query_as::<_, T>(&format!(
        "SELECT {columns} FROM {from} WHERE {user_column} = $1 ORDER BY {order} LIMIT $2 OFFSET $3"
    ))
    .bind(user)
    .bind(paging.limit)
    .bind(paging.offset)
    .fetch_all(pool)
    .await?;
    Ok((items, total))
}

/// The query string of a list that has only paging; unknown parameters are
/// ignored.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page (default 20).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// Items to skip (default 0).
    #[param(value_type = Option<i64>, minimum = 0, maximum = 1_000_000_000)]
    offset: Option<String>,
}

impl PageParams {
    pub fn paging(&self) -> Result<Paging, Problem> {
        Paging::parse(given(&self.limit), given(&self.offset))
    }
}

/// One page of a list, as API.md's conventions shape it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

/// `order=asc|desc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Asc,
    Desc,
}

impl Order {
    pub fn parse(raw: Option<&str>, default: Order) -> Result<Self, Problem> {
        match raw {
            None => Ok(default),
            Some("asc") => Ok(Order::Asc),
            Some("desc") => Ok(Order::Desc),
            Some(_) => Err(bad_param("order", "must be one of: asc desc")),
        }
    }

    pub fn sql(self) -> &'static str {
        match self {
            Order::Asc => "ASC",
            Order::Desc => "DESC",
        }
    }
}

/// A query parameter's value, where an empty one counts as not given.
pub fn given(raw: &Option<String>) -> Option<&str> {
    raw.as_deref().filter(|v| !v.is_empty())
}

/// A 400 problem naming the bad query parameter.
pub fn bad_param(field: &str, message: impl Into<String>) -> Problem {
    let message = message.into();
    let mut problem = Problem::bad_request(format!("{field}: {message}"));
    problem.errors = vec![FieldProblem {
        field: field.into(),
        message,
    }];
    problem
}

/// A 400 problem from a value type's parse error.
pub fn bad_value(error: comics_domain::values::FieldError) -> Problem {
    bad_param(&error.field, error.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_defaults_to_twenty_from_the_start() {
        assert_eq!(
            Paging::parse(None, None).unwrap(),
            Paging {
                limit: 20,
                offset: 0
            }
        );
    }

    #[test]
    fn paging_refuses_limits_outside_one_to_a_hundred() {
        for bad in ["0", "101", "-1", "ten", "1.5"] {
            assert_eq!(
                Paging::parse(Some(bad), None).unwrap_err().status,
                400,
                "{bad}"
            );
        }
        assert_eq!(Paging::parse(Some("100"), Some("7")).unwrap().limit, 100);
        assert_eq!(
            Paging::parse(None, Some("-1")).unwrap_err().errors[0].field,
            "offset"
        );
    }

    #[test]
    fn order_is_asc_or_desc() {
        assert_eq!(Order::parse(None, Order::Asc).unwrap(), Order::Asc);
        assert_eq!(Order::parse(Some("desc"), Order::Asc).unwrap(), Order::Desc);
        assert!(Order::parse(Some("DESC"), Order::Asc).is_err());
    }

    #[test]
    fn an_empty_parameter_is_not_given() {
        assert_eq!(given(&Some(String::new())), None);
        assert_eq!(given(&Some("x".into())), Some("x"));
    }
}
