//! SOQL text. SOQL has no bind parameters, so every name placed in a query is
//! checked to be a plain identifier and every value is formatted by us.

use chrono::{DateTime, SecondsFormat, Utc};

use sync_core::{domain::Integration, ports::ProviderError};

pub fn check_identifier(name: &str) -> Result<(), ProviderError> {
    let valid = name.len() <= 80
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(ProviderError::Unsupported(format!(
            "`{name}` is not a Salesforce object or field name"
        )))
    }
}

fn default_fields(object: &str) -> &'static [&'static str] {
    match object {
        "Opportunity" => &[
            "Name",
            "AccountId",
            "Amount",
            "StageName",
            "CloseDate",
            "Probability",
            "Type",
            "OwnerId",
        ],
        "Account" => &[
            "Name",
            "Industry",
            "AnnualRevenue",
            "NumberOfEmployees",
            "Website",
            "OwnerId",
        ],
        "Contact" => &[
            "FirstName",
            "LastName",
            "Email",
            "Title",
            "AccountId",
            "OwnerId",
        ],
        _ => &["Name"],
    }
}

/// The fields synced for `object`, `Id, IsDeleted, SystemModstamp` first.
pub fn selected_fields(
    integration: &Integration,
    object: &str,
) -> Result<Vec<String>, ProviderError> {
    check_identifier(object)?;
    let configured: Option<Vec<String>> = integration
        .settings
        .pointer(&format!("/salesforce/fields/{object}"))
        .and_then(|v| serde_json::from_value(v.clone()).ok());
    let mut fields: Vec<String> = vec!["Id".into(), "IsDeleted".into(), "SystemModstamp".into()];
    let extra: Vec<String> = configured.unwrap_or_else(|| {
        default_fields(object)
            .iter()
            .map(|f| f.to_string())
            .collect()
    });
    for field in extra {
        check_identifier(&field)?;
        if !fields.iter().any(|f| f.eq_ignore_ascii_case(&field)) {
            fields.push(field);
        }
    }
    Ok(fields)
}

/// `SELECT … FROM object [WHERE SystemModstamp >= since] ORDER BY SystemModstamp, Id`.
/// Fields come from `settings.salesforce.fields.<Object>` or a default set;
/// `Id`, `IsDeleted` and `SystemModstamp` are always selected.
pub fn changed_since(
    integration: &Integration,
    object: &str,
    since: Option<DateTime<Utc>>,
) -> Result<String, ProviderError> {
    let fields = selected_fields(integration, object)?;
    let mut query = format!("SELECT {} FROM {object}", fields.join(", "));
    if let Some(since) = since {
        // SOQL datetime literals are unquoted ISO 8601.
        query.push_str(&format!(
            " WHERE SystemModstamp >= {}",
            since.to_rfc3339_opts(SecondsFormat::Millis, true)
        ));
    }
    query.push_str(" ORDER BY SystemModstamp ASC, Id ASC");
    Ok(query)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn integration(settings: serde_json::Value) -> Integration {
        serde_json::from_value(serde_json::json!({
            "id": "i", "tenantId": uuid::Uuid::nil(), "provider": "salesforce", "settings": settings
        }))
        .unwrap()
    }

    #[test]
    fn a_window_query_selects_bookkeeping_fields_and_orders_by_stamp_then_id() {
        let since = DateTime::parse_from_rfc3339("2026-03-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let q = changed_since(
            &integration(serde_json::json!({})),
            "Opportunity",
            Some(since),
        )
        .unwrap();
        assert_eq!(
            q,
            "SELECT Id, IsDeleted, SystemModstamp, Name, AccountId, Amount, StageName, CloseDate, Probability, Type, OwnerId \
             FROM Opportunity WHERE SystemModstamp >= 2026-03-01T10:00:00.000Z ORDER BY SystemModstamp ASC, Id ASC"
        );
    }

    #[test]
    fn names_that_could_inject_soql_are_refused() {
        let plain = integration(serde_json::json!({}));
        assert!(changed_since(&plain, "Opportunity WHERE Id != null", None).is_err());
        let hostile = integration(
            serde_json::json!({"salesforce": {"fields": {"Account": ["Name, (SELECT Id FROM Contacts)"]}}}),
        );
        assert!(changed_since(&hostile, "Account", None).is_err());
    }
}
