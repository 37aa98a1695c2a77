//! Value types of a rating.

use super::FieldError;
use serde::{Deserialize, Serialize};

/// A user's score of a comic: an integer from 1 to 10. Serialized as a plain
/// number; deserializing checks the range, so an out-of-range score can never
/// be read back into a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u8")]
pub struct Score(u8);

impl Score {
    pub const MIN: u8 = 1;
    pub const MAX: u8 = 10;

    pub fn value(self) -> u8 {
        self.0
    }
}

impl TryFrom<i64> for Score {
    type Error = FieldError;

    fn try_from(raw: i64) -> Result<Self, FieldError> {
        if (i64::from(Self::MIN)..=i64::from(Self::MAX)).contains(&raw) {
            Ok(Self(raw as u8))
        } else {
            Err(FieldError::new("score", "must be an integer from 1 to 10"))
        }
    }
}

impl From<Score> for u8 {
    fn from(score: Score) -> u8 {
        score.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_are_integers_from_1_to_10() {
        assert_eq!(Score::try_from(1).unwrap().value(), 1);
        assert_eq!(Score::try_from(10).unwrap().value(), 10);
        for bad in [0, 11, -1, i64::MIN, i64::MAX, 256, 257] {
            assert_eq!(
                Score::try_from(bad).unwrap_err(),
                FieldError::new("score", "must be an integer from 1 to 10"),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_score_is_a_plain_number_in_json() {
        let score = Score::try_from(7).unwrap();
        assert_eq!(serde_json::to_string(&score).unwrap(), "7");
        assert_eq!(serde_json::from_str::<Score>("7").unwrap(), score);
        for bad in ["0", "11", "-1", "7.5", "\"7\"", "null"] {
            assert!(serde_json::from_str::<Score>(bad).is_err(), "{bad}");
        }
    }
}
