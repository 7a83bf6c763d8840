//! Generated records written as JSON straight from their fields. Every value
//! of a generated record is ASCII from the generator's tables, digits or a
//! date, so nothing needs escaping, and the text is the one serde writes for
//! the same structs (a test holds the two equal for thousands of records of
//! each kind). The sandbox stands in for a CRM's API, which serves stored
//! bytes: generating a record should cost less than syncing it, or every
//! benchmark of a sync measures the sandbox.

use std::fmt::{Display, Write};

use super::generator::{Account, Common, Contact, Generated, Opportunity};

/// A record that writes its own JSON object.
pub(crate) trait Template {
    fn write_json(&self, out: &mut String);
}

/// `"name":"value"` after a comma, or after the opening brace if `first`.
fn text(out: &mut String, name: &str, value: &str) {
    debug_assert!(!value.contains(['"', '\\']) && value.is_ascii());
    key(out, name);
    out.push('"');
    out.push_str(value);
    out.push('"');
}

/// `"name":value` for a number or a bool.
fn plain(out: &mut String, name: &str, value: impl Display) {
    key(out, name);
    write!(out, "{value}").expect("writing to a String cannot fail");
}

fn key(out: &mut String, name: &str) {
    if !out.ends_with('{') {
        out.push(',');
    }
    out.push('"');
    out.push_str(name);
    out.push_str("\":");
}

impl Template for Generated<'_> {
    fn write_json(&self, out: &mut String) {
        match self {
            Generated::Opportunity(record) => record.write_json(out),
            Generated::Account(record) => record.write_json(out),
            Generated::Contact(record) => record.write_json(out),
        }
    }
}

impl Common<'_> {
    fn write_fields(&self, out: &mut String) {
        text(out, "Id", self.id);
        text(out, "CreatedDate", &self.created_date);
        text(out, "LastModifiedDate", &self.last_modified_date);
        plain(out, "IsDeleted", self.is_deleted);
        text(out, "Description", &self.description);
    }
}

impl Template for Opportunity<'_> {
    fn write_json(&self, out: &mut String) {
        out.push('{');
        text(out, "Name", &self.name);
        text(out, "AccountId", &self.account_id);
        // Whole amounts: serde writes an integral f64 with a trailing ".0".
        debug_assert!(self.amount.fract() == 0.0 && self.amount < 1e15);
        plain(out, "Amount", format_args!("{}.0", self.amount as u64));
        text(out, "CurrencyIsoCode", self.currency_iso_code);
        text(out, "StageName", self.stage_name);
        plain(out, "Probability", self.probability);
        text(out, "CloseDate", &self.close_date);
        text(out, "Type", self.kind);
        text(out, "OwnerId", &self.owner_id);
        self.common.write_fields(out);
        out.push('}');
    }
}

impl Template for Account<'_> {
    fn write_json(&self, out: &mut String) {
        out.push('{');
        text(out, "Name", &self.name);
        text(out, "Industry", self.industry);
        plain(out, "NumberOfEmployees", self.number_of_employees);
        plain(out, "AnnualRevenue", self.annual_revenue);
        text(out, "Website", &self.website);
        self.common.write_fields(out);
        out.push('}');
    }
}

impl Template for Contact<'_> {
    fn write_json(&self, out: &mut String) {
        out.push('{');
        text(out, "FirstName", self.first_name);
        text(out, "LastName", self.last_name);
        text(out, "Email", &self.email);
        text(out, "Title", self.title);
        text(out, "AccountId", &self.account_id);
        self.common.write_fields(out);
        out.push('}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::{EntityKind, RecordGenerator};

    /// Every generated record's template writes what serde writes for its
    /// fields (the bytes stores already hold hashes of): thousands of each
    /// kind, so every table entry and number width comes up.
    #[test]
    fn a_template_writes_the_bytes_serde_writes() {
        for kind in [
            EntityKind::Opportunity,
            EntityKind::Account,
            EntityKind::Contact,
        ] {
            let generator = RecordGenerator::new(42, kind);
            for index in (0..5_000).chain([99_999_999, u64::from(u32::MAX)]) {
                let id = generator.external_id(index);
                let fields = generator.generate(index, &id, generator.modified_at(index));
                let mut text = String::new();
                fields.write_json(&mut text);
                assert_eq!(
                    text,
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
}
