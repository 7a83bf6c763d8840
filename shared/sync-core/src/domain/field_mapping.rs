//! Field mappings, and the way back: a shard's `structuredData` (platform
//! field names) expressed in the provider's field names, for outbound sync.
//!
//! integration-processors maps a provider record to a shard with the entity
//! mapping's `fieldMappings` (castiel2 `containers/shared/src/services/
//! FieldMapperService.ts`, `mapFields`): `shard[shardField] =
//! transform(record[externalField])`, dotted external paths read nested
//! values, missing or null values are skipped. Going back, a field is written
//! only where the way back is sound:
//! - its external field is a top-level field (a dotted path names a related
//!   record, not a field of this one);
//! - its transform is one this module knows; a custom or unknown transform
//!   cannot be reversed, so the field is left alone and reported;
//! - the shard's value differs from what the mapping makes of the provider's
//!   last synced value; an unchanged field keeps the provider's own spelling
//!   (`"5000.00"` stays, though the shard holds `5000`);
//! - a field the shard lacks is no opinion of the platform's: the provider's
//!   value stays. Only an explicit `null` clears it.

use serde::Serialize;
use serde_json::{Map, Number, Value};

type Fields = Map<String, Value>;

/// `{externalField, shardField, transform?}` (aliases `externalFieldName`,
/// `internalFieldName`, as the field mapper accepts).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldMapping {
    pub external_field: String,
    pub shard_field: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transform: Option<String>,
}

/// The provider's view of a shard.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProviderView {
    /// The provider record as last synced, with the platform's opinions written in.
    pub fields: Fields,
    /// Mapped fields that could not be carried back, and why.
    pub skipped: Vec<String>,
}

/// `base` (the provider record as last synced) with each mapped field taken
/// from the shard's `structured` data where the platform changed it.
pub fn to_provider(mappings: &[FieldMapping], structured: &Fields, base: &Fields) -> ProviderView {
    let mut view = ProviderView {
        fields: base.clone(),
        skipped: Vec::new(),
    };
    for mapping in mappings {
        let Some(shard_value) = structured.get(&mapping.shard_field) else {
            continue;
        };
        if mapping.external_field.contains('.') {
            view.skipped.push(format!(
                "{} (a field of a related record)",
                mapping.external_field
            ));
            continue;
        }
        let Some(transform) = Transform::named(mapping.transform.as_deref()) else {
            view.skipped.push(format!(
                "{} (transform `{}` cannot be reversed)",
                mapping.external_field,
                mapping.transform.as_deref().unwrap_or_default()
            ));
            continue;
        };
        let provider_value = base.get(&mapping.external_field);
        let as_platform_has_it = provider_value.and_then(|v| transform.forward(v));
        if same(
            as_platform_has_it.as_ref(),
            Some(shard_value).filter(|v| !v.is_null()),
        ) {
            continue;
        }
        view.fields.insert(
            mapping.external_field.clone(),
            transform.backward(shard_value),
        );
    }
    view
}

/// The field mapper's built-in transforms this module can also undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transform {
    None,
    StringToNumber,
    ToLowerCase,
    ToUpperCase,
    Trim,
    BooleanToString,
    DateToIso,
}

impl Transform {
    fn named(name: Option<&str>) -> Option<Self> {
        Some(match name {
            None | Some("") => Transform::None,
            Some("stringToNumber") => Transform::StringToNumber,
            Some("toLowerCase") => Transform::ToLowerCase,
            Some("toUpperCase") => Transform::ToUpperCase,
            Some("trim") => Transform::Trim,
            Some("booleanToString") => Transform::BooleanToString,
            Some("dateToISO") => Transform::DateToIso,
            Some(_) => return None,
        })
    }

    /// What the field mapper makes of a provider value; `None` where it
    /// leaves the shard field out (null, unparsable).
    fn forward(self, value: &Value) -> Option<Value> {
        if value.is_null() {
            return None;
        }
        match self {
            Transform::None => Some(value.clone()),
            Transform::StringToNumber => match value {
                Value::Number(_) => Some(value.clone()),
                Value::Bool(b) => Some(Value::from(u8::from(*b))),
                Value::String(s) if s.trim().is_empty() => None,
                Value::String(s) => s
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .and_then(Number::from_f64)
                    .map(Value::Number),
                _ => None,
            },
            Transform::ToLowerCase => Some(map_string(value, str::to_lowercase)),
            Transform::ToUpperCase => Some(map_string(value, str::to_uppercase)),
            Transform::Trim => Some(map_string(value, |s| s.trim().to_owned())),
            Transform::BooleanToString => Some(match value {
                Value::Bool(b) => Value::String(b.to_string()),
                other => other.clone(),
            }),
            Transform::DateToIso => value.as_str().and_then(iso_instant).map(Value::String),
        }
    }

    /// The provider value for a platform value the mapping would produce.
    fn backward(self, value: &Value) -> Value {
        match (self, value) {
            (Transform::StringToNumber, Value::Number(n)) => Value::String(js_number(n)),
            (Transform::BooleanToString, Value::String(s)) if s == "true" || s == "false" => {
                Value::Bool(s == "true")
            }
            _ => value.clone(),
        }
    }
}

fn map_string(value: &Value, f: impl Fn(&str) -> String) -> Value {
    match value {
        Value::String(s) => Value::String(f(s)),
        other => other.clone(),
    }
}

/// `new Date(text).toISOString()` for the forms providers send.
fn iso_instant(text: &str) -> Option<String> {
    use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
    let instant = DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
        })?;
    Some(instant.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// A number as JavaScript's `String(n)` writes it (`5000`, not `5000.0`).
fn js_number(n: &Number) -> String {
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
        _ => n.to_string(),
    }
}

/// JSON equality, numbers compared by value (`5000` equals `5000.0`).
fn same(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x.as_f64() == y.as_f64(),
        (a, b) => a == b,
    }
}

pub(crate) mod wire {
    use serde::Deserialize;

    use super::FieldMapping;

    /// A mapping as stored, under either naming convention.
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct FieldMappingDoc {
        #[serde(default)]
        external_field: Option<String>,
        #[serde(default)]
        external_field_name: Option<String>,
        #[serde(default)]
        shard_field: Option<String>,
        #[serde(default)]
        internal_field_name: Option<String>,
        #[serde(default)]
        transform: Option<String>,
    }

    impl FieldMappingDoc {
        /// The mapping, or `None` where a name is missing (the field mapper skips those too).
        pub fn into_mapping(self) -> Option<FieldMapping> {
            Some(FieldMapping {
                external_field: self.external_field_name.or(self.external_field)?,
                shard_field: self.internal_field_name.or(self.shard_field)?,
                transform: self.transform,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mapping(external: &str, shard: &str, transform: Option<&str>) -> FieldMapping {
        FieldMapping {
            external_field: external.into(),
            shard_field: shard.into(),
            transform: transform.map(str::to_owned),
        }
    }

    fn fields(value: Value) -> Fields {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn platform_names_go_back_to_provider_names() {
        let mappings = [
            mapping("StageName", "stage", None),
            mapping("Amount", "amount", Some("stringToNumber")),
        ];
        let base = fields(json!({"Id": "006A", "StageName": "Prospecting", "Amount": "100.00"}));
        let shard = fields(json!({"stage": "Closed Won", "amount": 250, "platformOnly": 1}));
        let view = to_provider(&mappings, &shard, &base);
        assert_eq!(
            Value::Object(view.fields),
            json!({"Id": "006A", "StageName": "Closed Won", "Amount": "250"})
        );
        assert!(view.skipped.is_empty());
    }

    #[test]
    fn an_unchanged_field_keeps_the_providers_spelling() {
        let mappings = [
            mapping("Amount", "amount", Some("stringToNumber")),
            mapping("CloseDate", "closeDate", Some("dateToISO")),
            mapping("Name", "name", Some("trim")),
        ];
        let base = fields(json!({"Amount": "5000.00", "CloseDate": "2026-03-01", "Name": "Deal "}));
        let shard = fields(json!({
            "amount": 5000, "closeDate": "2026-03-01T00:00:00.000Z", "name": "Deal"
        }));
        assert_eq!(to_provider(&mappings, &shard, &base).fields, base);
    }

    #[test]
    fn fields_that_cannot_go_back_are_left_alone_and_reported() {
        let mappings = [
            mapping("Account.Industry", "industry", None),
            mapping("Region__c", "region", Some("customRegionCode")),
        ];
        let base = fields(json!({"Region__c": "EMEA"}));
        let shard = fields(json!({"industry": "Tech", "region": "emea-1"}));
        let view = to_provider(&mappings, &shard, &base);
        assert_eq!(view.fields, base);
        assert_eq!(view.skipped.len(), 2, "{:?}", view.skipped);
    }

    #[test]
    fn a_missing_shard_field_is_no_opinion_but_null_clears() {
        let mappings = [
            mapping("Description", "description", None),
            mapping("NextStep", "nextStep", None),
        ];
        let base = fields(json!({"Description": "keep", "NextStep": "call"}));
        let shard = fields(json!({"nextStep": null}));
        let view = to_provider(&mappings, &shard, &base);
        assert_eq!(
            Value::Object(view.fields),
            json!({"Description": "keep", "NextStep": null})
        );
    }

    #[test]
    fn booleans_and_case_transforms_go_back() {
        let mappings = [
            mapping("IsWon", "won", Some("booleanToString")),
            mapping("Type", "type", Some("toLowerCase")),
        ];
        let base = fields(json!({"IsWon": false, "Type": "New Business"}));
        let unchanged = fields(json!({"won": "false", "type": "new business"}));
        assert_eq!(to_provider(&mappings, &unchanged, &base).fields, base);
        let changed = fields(json!({"won": "true", "type": "renewal"}));
        assert_eq!(
            Value::Object(to_provider(&mappings, &changed, &base).fields),
            json!({"IsWon": true, "Type": "renewal"})
        );
    }
}
