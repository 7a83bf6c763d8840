//! Timestamps as stored and served: ISO 8601 UTC with exactly six fractional
//! digits, so that their text sorts in time order in any store (a varying
//! number of digits would put `…:44Z` after `…:44.5Z`).

use chrono::{DateTime, Datelike, SecondsFormat, SubsecRound, Timelike, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// The current time at the precision timestamps are stored with, so a value
/// reads back equal to what was written.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

pub fn format(t: &DateTime<Utc>) -> String {
    with_text(t, str::to_owned)
}

pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    with_text(t, |text| s.serialize_str(text))
}

/// Hands `t`'s text to `f`: from the stack where [`Text`] can write it,
/// else chrono's.
pub(crate) fn with_text<R>(t: &DateTime<Utc>, f: impl FnOnce(&str) -> R) -> R {
    match Text::of(t) {
        Some(text) => f(text.as_str()),
        None => f(&t.to_rfc3339_opts(SecondsFormat::Micros, true)),
    }
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` written digit by digit on the stack: a
/// state and an event carry two or three timestamps, and chrono's
/// formatting (through `fmt`, into a new `String`) was ~2 % of a first
/// sync's CPU. Exactly chrono's text for years 0-9999 outside a leap
/// second; `None` for the rest, which chrono formats.
struct Text([u8; 27]);

impl Text {
    fn of(t: &DateTime<Utc>) -> Option<Text> {
        let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
        let nanos = t.nanosecond();
        if nanos >= 1_000_000_000 {
            return None; // a leap second: chrono writes its own way
        }
        let mut text = *b"0000-00-00T00:00:00.000000Z";
        for (range, value) in [
            (0..4, year),
            (5..7, t.month()),
            (8..10, t.day()),
            (11..13, t.hour()),
            (14..16, t.minute()),
            (17..19, t.second()),
            (20..26, nanos / 1_000),
        ] {
            let mut value = value;
            for digit in text[range].iter_mut().rev() {
                *digit = b'0' + (value % 10) as u8;
                value /= 10;
            }
        }
        Some(Text(text))
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("digits and ASCII separators")
    }
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

    #[test]
    fn a_leap_second_and_years_past_9999_are_written_as_chrono_writes_them() {
        let leap = DateTime::<Utc>::from_timestamp(1_483_228_799, 1_500_000_000).unwrap();
        assert_eq!(format(&leap), "2016-12-31T23:59:60.500000Z");
        let far = Utc.with_ymd_and_hms(12026, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(format(&far), "+12026-01-01T00:00:00.000000Z");
    }

    proptest::proptest! {
        #[test]
        fn the_text_is_chronos_own(
            seconds in -70_000_000_000i64..300_000_000_000i64,
            nanos in 0u32..2_000_000_000u32,
        ) {
            // Years -250 to 11476, and leap seconds (nanos past a second).
            if let Some(t) = DateTime::<Utc>::from_timestamp(seconds, nanos) {
                let chrono = t.to_rfc3339_opts(SecondsFormat::Micros, true);
                proptest::prop_assert_eq!(format(&t), chrono.clone());
                let json = serde_json::to_string(&Stamp(t)).unwrap();
                proptest::prop_assert_eq!(json, format!("\"{chrono}\""));
            }
        }
    }

    #[derive(serde::Serialize)]
    struct Stamp(#[serde(with = "super")] DateTime<Utc>);
}
