//! Start-up validation: values that parse but cannot work stop the process with
//! the key named, instead of failing later in the middle of a sync.

use secrecy::ExposeSecret;

use super::{ConfigError, Settings};

const MIN_JWT_SECRET_LEN: usize = 16;

impl Settings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, problem: &str| {
            Err(ConfigError::Invalid {
                key,
                problem: problem.to_string(),
            })
        };
        if self.jwt.secret.expose_secret().len() < MIN_JWT_SECRET_LEN {
            return invalid("jwt.secret", "must be at least 16 characters");
        }
        if let Err(why) = crate::telemetry::filter(&self.log.filter) {
            return invalid(
                "log.filter",
                &format!("`target=level` directives, comma-separated, expected: {why}"),
            );
        }
        if self.mapping.batch_event_type.trim().is_empty() {
            return invalid("mapping.batch_event_type", "must not be empty");
        }
        if self.cosmos_db.endpoint.is_some() && self.cosmos_db.key.is_none() {
            return invalid(
                "cosmos_db.key",
                "is required when cosmos_db.endpoint is set",
            );
        }
        if self.cosmos_db.database_id.trim().is_empty() {
            return invalid("cosmos_db.database_id", "must not be empty");
        }
        if self.server.body_limit_bytes < 1024 {
            return invalid("server.body_limit_bytes", "must be at least 1024");
        }
        if self.mapping.batch_size == 0 {
            return invalid("mapping.batch_size", "must be greater than 0");
        }
        let limits = &self.sync_limits;
        for (key, page) in [
            ("sync_limits.page_size", limits.page_size),
            (
                "sync_limits.integration_manager_page_size",
                limits.integration_manager_page_size,
            ),
        ] {
            if !(1..=10_000).contains(&page) {
                return invalid(key, "must be between 1 and 10000");
            }
        }
        if self.sync_limits.max_records_per_sync == 0 {
            return invalid("sync_limits.max_records_per_sync", "must be greater than 0");
        }
        if self.sync_limits.max_concurrent_syncs_per_tenant == 0 {
            return invalid(
                "sync_limits.max_concurrent_syncs_per_tenant",
                "must be greater than 0",
            );
        }
        if self.sync_limits.lease_ttl < std::time::Duration::from_secs(3) {
            return invalid("sync_limits.lease_ttl_ms", "must be at least 3000");
        }
        if self.recovery.interval < std::time::Duration::from_millis(100) {
            return invalid("recovery.interval_ms", "must be at least 100");
        }
        if !(0.0..=1.0).contains(&self.sync_limits.mass_delete_share) {
            return invalid("sync_limits.mass_delete_share", "must be between 0 and 1");
        }
        if self.providers.requests_per_second == 0 || self.providers.burst == 0 {
            return invalid(
                "providers.requests_per_second",
                "and providers.burst must be greater than 0",
            );
        }
        if self.providers.max_attempts == 0 {
            return invalid("providers.max_attempts", "must be greater than 0");
        }
        if self.rabbitmq.exchange.is_empty() {
            return invalid("rabbitmq.exchange", "must not be empty");
        }
        if self.rabbitmq.queue.is_empty() {
            return invalid("rabbitmq.queue", "must not be empty");
        }
        for (key, endpoint) in [
            (
                "services.integration_manager.url",
                &self.services.integration_manager,
            ),
            (
                "services.secret_management.url",
                &self.services.secret_management,
            ),
            ("services.shard_manager.url", &self.services.shard_manager),
        ] {
            if let Some(url) = &endpoint.url
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                return invalid(key, "must be an http(s) URL");
            }
        }
        if let Some(url) = &self.rabbitmq.url
            && !(url.starts_with("amqp://") || url.starts_with("amqps://"))
        {
            return invalid("rabbitmq.url", "must be an amqp(s) URL");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::load_from_str;

    const DEFAULT_YAML: &str = include_str!("../../../../config/default.yaml");

    #[test]
    fn a_short_jwt_secret_is_refused_naming_the_key() {
        let yaml = DEFAULT_YAML.replace(
            "${JWT_SECRET:-dev-only-insecure-jwt-secret-change-me}",
            "short",
        );
        let err = load_from_str(&yaml).unwrap_err().to_string();
        assert!(err.contains("jwt.secret"), "{err}");
    }

    #[test]
    fn a_cosmos_endpoint_without_key_is_refused() {
        let yaml = DEFAULT_YAML.replace("${COSMOS_DB_ENDPOINT:-}", "http://127.0.0.1:8081/");
        let yaml = yaml.replace("${COSMOS_DB_KEY:-}", "");
        let err = load_from_str(&yaml).unwrap_err().to_string();
        assert!(err.contains("cosmos_db.key"), "{err}");
    }

    #[test]
    fn an_integration_manager_page_of_nothing_is_refused_naming_the_key() {
        let yaml = DEFAULT_YAML.replace(
            "integration_manager_page_size: 2000",
            "integration_manager_page_size: 0",
        );
        let err = load_from_str(&yaml).unwrap_err().to_string();
        assert!(
            err.contains("sync_limits.integration_manager_page_size"),
            "{err}"
        );
    }

    #[test]
    fn a_non_amqp_rabbitmq_url_is_refused() {
        let yaml = DEFAULT_YAML.replace("${RABBITMQ_URL:-}", "http://localhost");
        let err = load_from_str(&yaml).unwrap_err().to_string();
        assert!(err.contains("rabbitmq.url"), "{err}");
    }
}
