//! Timestamps as stored and served: ISO 8601 UTC with exactly six fractional
//! digits, so that their text sorts in time order in any store (a varying
//! number of digits would put `…:44Z` after `…:44.5Z`).

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// The current time at the precision timestamps are stored with, so a value
/// reads back equal to what was written.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

pub fn format(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(t))
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    DateTime::<Utc>::deserialize(d)
}

pub mod option {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        Option::<DateTime<Utc>>::deserialize(d)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn text_order_is_time_order() {
        let whole = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 44).unwrap();
        let later = whole + chrono::Duration::milliseconds(500);
        assert!(format(&whole) < format(&later));
        assert_eq!(format(&whole), "2026-01-01T00:00:44.000000Z");
    }
}
