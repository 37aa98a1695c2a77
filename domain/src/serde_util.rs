//! Serde helpers for patch semantics: a field that is absent, `null` or set.

use serde::{Deserialize, Deserializer};

/// Deserializes `Option<Option<T>>` so that an absent field is `None`,
/// an explicit `null` is `Some(None)` and a value is `Some(Some(v))`.
pub fn double_option<'de, T, D>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Deserialize::deserialize(de).map(Some)
}
