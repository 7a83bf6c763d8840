//! Generated records written as JSON straight from their random draws, into
//! one buffer: no field is built as a string of its own first. Every value of
//! a generated record is ASCII from the generator's tables, digits or a date,
//! so nothing needs escaping, and the text is the one serde writes for the
//! record's fields (`generate`; a test holds the two equal for thousands of
//! records of each kind, and another pins one record's bytes). The draws are
//! made in `generate`'s order, so the same index gives the same record.
//!
//! The sandbox stands in for a CRM's API, which serves stored bytes:
//! generating a record should cost less than syncing it, or every benchmark
//! of a sync measures the sandbox.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Timelike, Utc};
use rand::Rng;

use super::generator::{
    COMPANIES, DescriptionDraws, EntityKind, FIRST_NAMES, INDUSTRIES, LAST_NAMES, RecordGenerator,
    STAGES, epoch,
};

/// About the largest generated record (an opportunity is ~950 bytes).
const RECORD_CAPACITY: usize = 1152;

impl RecordGenerator {
    /// The unpushed record at `index` as JSON text: what serde writes for
    /// `generate(index, ..)`'s fields.
    pub(crate) fn write_generated(&self, index: u64, modified_at: DateTime<Utc>) -> String {
        let mut rng = self.rng(index);
        let created = epoch() - Duration::days(rng.random_range(1..720));
        let description = DescriptionDraws::draw(&mut rng);
        let common = CommonDraws {
            generator: self,
            index,
            created,
            modified_at,
            description,
        };
        let mut out = Json(String::with_capacity(RECORD_CAPACITY));
        match self.kind() {
            EntityKind::Opportunity => {
                let (stage, probability) = STAGES[rng.random_range(0..STAGES.len())];
                let company = COMPANIES[rng.random_range(0..COMPANIES.len())];
                let seats: i32 = rng.random_range(5..5000);
                out.key("Name");
                out.quoted(|o| {
                    o.push_str(company);
                    o.push_str(" - ");
                    push_number(o, seats.unsigned_abs().into());
                    o.push_str(" seats");
                });
                out.key("AccountId");
                out.quoted(|o| push_account_id(o, rng.random_range(0..100_000u64)));
                out.key("Amount");
                // serde writes an integral f64 with a trailing ".0".
                push_number(&mut out.0, rng.random_range(1_000..2_000_000u64));
                out.0.push_str(".0");
                out.text("CurrencyIsoCode", "USD");
                out.text("StageName", stage);
                out.key("Probability");
                push_number(&mut out.0, probability.into());
                let close = modified_at + Duration::days(rng.random_range(7..180));
                out.key("CloseDate");
                out.quoted(|o| push_date(o, close.date_naive()));
                let kind = if rng.random_bool(0.5) {
                    "New Business"
                } else {
                    "Renewal"
                };
                out.text("Type", kind);
                let owner: i32 = rng.random_range(0..500);
                out.key("OwnerId");
                out.quoted(|o| {
                    o.push_str("USR-");
                    push_padded(o, owner.unsigned_abs().into(), 5);
                });
            }
            EntityKind::Account => {
                let company = COMPANIES[rng.random_range(0..COMPANIES.len())];
                let number: i32 = rng.random_range(1..10_000);
                out.key("Name");
                out.quoted(|o| {
                    o.push_str(company);
                    o.push(' ');
                    push_number(o, number.unsigned_abs().into());
                });
                out.text(
                    "Industry",
                    INDUSTRIES[rng.random_range(0..INDUSTRIES.len())],
                );
                let employees: u32 = rng.random_range(5..200_000);
                out.key("NumberOfEmployees");
                push_number(&mut out.0, employees.into());
                out.key("AnnualRevenue");
                push_number(&mut out.0, rng.random_range(100_000..5_000_000_000u64));
                out.key("Website");
                out.quoted(|o| {
                    o.push_str("https://");
                    push_lowercase(o, company);
                    o.push_str(".example.com");
                });
            }
            EntityKind::Contact => {
                let first = FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())];
                let last = LAST_NAMES[rng.random_range(0..LAST_NAMES.len())];
                out.text("FirstName", first);
                out.text("LastName", last);
                out.key("Email");
                out.quoted(|o| {
                    push_lowercase(o, first);
                    o.push('.');
                    push_lowercase(o, last);
                    push_number(o, index);
                    o.push_str("@example.com");
                });
                out.text("Title", "Director");
                out.key("AccountId");
                out.quoted(|o| push_account_id(o, rng.random_range(0..100_000u64)));
            }
        }
        common.write(&mut out);
        out.0.push('}');
        out.0
    }
}

/// The fields every kind ends with, drawn before the kind's own.
struct CommonDraws<'a> {
    generator: &'a RecordGenerator,
    index: u64,
    created: DateTime<Utc>,
    modified_at: DateTime<Utc>,
    description: DescriptionDraws,
}

impl CommonDraws<'_> {
    fn write(&self, out: &mut Json) {
        out.key("Id");
        out.quoted(|o| self.generator.push_external_id(o, self.index));
        out.key("CreatedDate");
        out.quoted(|o| push_rfc3339(o, self.created));
        out.key("LastModifiedDate");
        out.quoted(|o| push_rfc3339(o, self.modified_at));
        out.key("IsDeleted");
        out.0.push_str("false");
        out.key("Description");
        out.quoted(|o| self.description.push(o));
    }
}

/// A JSON object being written: `{` before its first key, `,` before the others.
struct Json(String);

impl Json {
    fn key(&mut self, name: &str) {
        self.0.push(if self.0.is_empty() { '{' } else { ',' });
        self.0.push('"');
        self.0.push_str(name);
        self.0.push_str("\":");
    }

    /// A string value whose text needs no escaping.
    fn quoted(&mut self, write: impl FnOnce(&mut String)) {
        self.0.push('"');
        write(&mut self.0);
        self.0.push('"');
    }

    fn text(&mut self, name: &str, value: &str) {
        debug_assert!(!value.contains(['"', '\\']) && value.is_ascii());
        self.key(name);
        self.quoted(|o| o.push_str(value));
    }
}

fn push_number(out: &mut String, n: u64) {
    out.push_str(itoa::Buffer::new().format(n));
}

/// `n` in at least `width` digits, zeros in front.
pub(crate) fn push_padded(out: &mut String, n: u64, width: usize) {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(n);
    for _ in digits.len()..width {
        out.push('0');
    }
    out.push_str(digits);
}

fn push_account_id(out: &mut String, n: u64) {
    out.push_str("ACC-");
    push_padded(out, n, 9);
}

fn push_lowercase(out: &mut String, name: &str) {
    out.extend(name.chars().map(|c| c.to_ascii_lowercase()));
}

/// `YYYY-MM-DD`, as chrono's `%Y-%m-%d` writes years 1000–9999.
fn push_date(out: &mut String, date: NaiveDate) {
    if !(1000..=9999).contains(&date.year()) {
        out.push_str(&date.format("%Y-%m-%d").to_string());
        return;
    }
    push_padded(out, date.year().unsigned_abs().into(), 4);
    out.push('-');
    push_padded(out, date.month().into(), 2);
    out.push('-');
    push_padded(out, date.day().into(), 2);
}

/// What `to_rfc3339` writes for a whole second of a year 1000–9999:
/// `YYYY-MM-DDTHH:MM:SS+00:00`; chrono itself writes anything else.
fn push_rfc3339(out: &mut String, t: DateTime<Utc>) {
    if t.nanosecond() != 0 || !(1000..=9999).contains(&t.year()) {
        out.push_str(&t.to_rfc3339());
        return;
    }
    push_date(out, t.date_naive());
    out.push('T');
    push_padded(out, t.hour().into(), 2);
    out.push(':');
    push_padded(out, t.minute().into(), 2);
    out.push(':');
    push_padded(out, t.second().into(), 2);
    out.push_str("+00:00");
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    /// Every generated record is written as serde writes its fields (the
    /// bytes stores already hold hashes of): thousands of each kind, so every
    /// table entry and number width comes up, and indices far out.
    #[test]
    fn a_record_is_written_as_serde_writes_its_fields() {
        for kind in [
            EntityKind::Opportunity,
            EntityKind::Account,
            EntityKind::Contact,
        ] {
            let generator = RecordGenerator::new(42, kind);
            for index in (0..5_000).chain([99_999_999, u64::from(u32::MAX)]) {
                let id = generator.external_id(index);
                let modified_at = generator.modified_at(index);
                let fields = generator.generate(index, &id, modified_at);
                assert_eq!(
                    generator.write_generated(index, modified_at),
                    serde_json::to_string(&fields).unwrap(),
                    "{kind:?} {index}"
                );
            }
        }
    }

    /// A record from before templates, byte for byte.
    #[test]
    fn generated_records_stay_what_they_were() {
        let generator = RecordGenerator::new(42, EntityKind::Contact);
        let (raw, _) = generator.record(7, None);
        assert_eq!(
            raw.get(),
            r#"{"FirstName":"Linus","LastName":"Torvalds","Email":"linus.torvalds7@example.com","Title":"Director","AccountId":"ACC-000006383","Id":"CON-000000007","CreatedDate":"2025-06-15T00:00:00+00:00","LastModifiedDate":"2026-01-01T00:00:02+00:00","IsDeleted":false,"Description":"pilot expansion risk champion approved approved pilot budget pilot pending pricing security renewal pilot integration approved champion budget risk champion budget champion risk timeline security security pricing procurement champion expansion procurement pending pricing legal approved security expansion champion expansion legal security review budget procurement budget legal renewal review pending expansion risk timeline pricing pending pricing pending expansion expansion integration legal pricing review timeline risk procurement renewal legal review pricing procurement"}"#
        );
    }

    /// Times the fast path does not write itself go to chrono, as text
    /// chrono writes.
    #[test]
    fn dates_outside_the_fast_path_are_chronos_own() {
        let cases = [
            Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 7).single().unwrap(),
            Utc.with_ymd_and_hms(999, 12, 31, 23, 59, 59)
                .single()
                .unwrap(),
            Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0)
                .single()
                .unwrap(),
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap()
                + Duration::microseconds(1_500),
        ];
        for t in cases {
            let mut text = String::new();
            push_rfc3339(&mut text, t);
            assert_eq!(text, t.to_rfc3339());
            let mut date = String::new();
            push_date(&mut date, t.date_naive());
            assert_eq!(date, t.format("%Y-%m-%d").to_string());
        }
    }
}
