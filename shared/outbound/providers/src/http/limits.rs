//! What providers say about their own limits in every answer's headers.

use std::time::Duration;

use reqwest::header::HeaderMap;
use sync_core::ports::LimitReport;

/// Salesforce's `Sforce-Limit-Info: api-usage=18/5000` (the org's rolling
/// 24-hour API request count), and HubSpot's `X-HubSpot-RateLimit-Daily` /
/// `-Daily-Remaining` (API-key and private-app calls; OAuth calls have no
/// daily limit) and its burst limit (see below); HubSpot's search endpoints
/// send none of them. Whatever is absent or unreadable is left out.
pub fn reported_limits(headers: &HeaderMap) -> Vec<LimitReport> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let number = |name: &str| text(name).and_then(|v| v.trim().parse::<u64>().ok());
    let mut reports = Vec::new();
    if let Some(info) = text("sforce-limit-info") {
        let usage = info
            .split(',')
            .filter_map(|part| part.trim().strip_prefix("api-usage="))
            .find_map(|usage| usage.split_once('/'));
        if let Some((used, limit)) = usage
            && let (Ok(used), Ok(limit)) = (used.trim().parse(), limit.trim().parse())
        {
            reports.push(LimitReport {
                what: "daily API requests",
                used,
                limit,
                resets_in: None,
            });
        }
    }
    if let (Some(limit), Some(remaining)) = (
        number("x-hubspot-ratelimit-daily"),
        number("x-hubspot-ratelimit-daily-remaining"),
    ) {
        reports.push(LimitReport {
            what: "daily API requests",
            used: limit.saturating_sub(remaining),
            limit,
            resets_in: None,
        });
    }
    // The burst limit: `-Max`/`-Remaining` per `-Interval-Milliseconds` (private
    // and OAuth apps), or the older `-Secondly`/`-Secondly-Remaining`.
    let burst = match (
        number("x-hubspot-ratelimit-max"),
        number("x-hubspot-ratelimit-remaining"),
        number("x-hubspot-ratelimit-interval-milliseconds"),
    ) {
        (Some(limit), Some(remaining), Some(interval)) => Some((limit, remaining, interval)),
        _ => number("x-hubspot-ratelimit-secondly")
            .zip(number("x-hubspot-ratelimit-secondly-remaining"))
            .map(|(limit, remaining)| (limit, remaining, 1000)),
    };
    if let Some((limit, remaining, interval)) = burst {
        reports.push(LimitReport {
            what: "requests in the current interval",
            used: limit.saturating_sub(remaining),
            limit,
            resets_in: Some(Duration::from_millis(interval)),
        });
    }
    reports
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    #[test]
    fn salesforce_usage_is_read_among_other_counts() {
        let reports = reported_limits(&headers(&[(
            "Sforce-Limit-Info",
            "api-usage=4750/5000, per-app-api-usage=17/250(appName=sample)",
        )]));
        assert_eq!(
            reports,
            vec![LimitReport {
                what: "daily API requests",
                used: 4750,
                limit: 5000,
                resets_in: None
            }]
        );
        assert!((reports[0].share_used() - 0.95).abs() < 1e-9);
    }

    #[test]
    fn hubspot_daily_and_interval_limits_are_read() {
        let reports = reported_limits(&headers(&[
            ("X-HubSpot-RateLimit-Daily", "250000"),
            ("X-HubSpot-RateLimit-Daily-Remaining", "10000"),
            ("X-HubSpot-RateLimit-Max", "100"),
            ("X-HubSpot-RateLimit-Remaining", "0"),
            ("X-HubSpot-RateLimit-Interval-Milliseconds", "10000"),
        ]));
        assert_eq!(reports.len(), 2);
        assert_eq!((reports[0].used, reports[0].limit), (240_000, 250_000));
        assert_eq!(reports[1].resets_in, Some(Duration::from_secs(10)));
        assert_eq!(reports[1].used, 100);
    }

    #[test]
    fn hubspot_secondly_headers_are_a_one_second_interval() {
        let reports = reported_limits(&headers(&[
            ("X-HubSpot-RateLimit-Secondly", "10"),
            ("X-HubSpot-RateLimit-Secondly-Remaining", "0"),
        ]));
        assert_eq!(reports.len(), 1);
        assert_eq!((reports[0].used, reports[0].limit), (10, 10));
        assert_eq!(reports[0].resets_in, Some(Duration::from_secs(1)));
    }

    #[test]
    fn absent_or_garbled_headers_report_nothing() {
        assert!(reported_limits(&HeaderMap::new()).is_empty());
        let garbled = headers(&[
            ("Sforce-Limit-Info", "api-usage=lots"),
            ("X-HubSpot-RateLimit-Daily", "many"),
            ("X-HubSpot-RateLimit-Daily-Remaining", "1"),
        ]);
        assert!(reported_limits(&garbled).is_empty());
    }
}
