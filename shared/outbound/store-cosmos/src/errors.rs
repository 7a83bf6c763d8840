//! Cosmos DB errors in the store port's terms.

use azure_data_cosmos::CosmosError;

use sync_core::ports::store::StoreError;

/// Status and message, never the request (which may carry the auth header).
pub fn describe(error: &CosmosError) -> String {
    let status = error.status();
    format!("{} ({error})", u16::from(status.status_code()))
}

pub fn to_store_error(error: CosmosError) -> StoreError {
    let status = error.status();
    if status.is_not_found() {
        StoreError::NotFound
    } else if status.is_conflict() {
        StoreError::AlreadyExists
    } else if status.is_precondition_failed() {
        StoreError::PreconditionFailed
    } else if status.is_unauthorized() || status.is_forbidden() {
        StoreError::Unavailable(format!(
            "Cosmos DB refused the credentials: {}",
            describe(&error)
        ))
    } else if status.is_throttled()
        || status.is_transient()
        || status.is_timeout()
        || status.is_service_unavailable()
        || u16::from(status.status_code()) >= 500
    {
        StoreError::Unavailable(describe(&error))
    } else {
        StoreError::Unexpected(anyhow::anyhow!("Cosmos DB: {}", describe(&error)))
    }
}

#[cfg(test)]
mod tests {
    use azure_core::http::StatusCode;
    use azure_data_cosmos::CosmosStatus;

    use super::*;

    fn error(status: StatusCode) -> CosmosError {
        CosmosError::builder()
            .with_status(CosmosStatus::new(status))
            .with_message("from the service")
            .build()
    }

    #[test]
    fn a_wrong_key_is_reported_as_refused_credentials() {
        for status in [StatusCode::Unauthorized, StatusCode::Forbidden] {
            match to_store_error(error(status)) {
                StoreError::Unavailable(why) => {
                    assert!(why.contains("refused the credentials"), "{why}")
                }
                other => panic!("{status:?} -> {other:?}"),
            }
        }
    }

    #[test]
    fn races_and_missing_documents_keep_their_meaning() {
        assert!(matches!(
            to_store_error(error(StatusCode::PreconditionFailed)),
            StoreError::PreconditionFailed
        ));
        assert!(matches!(
            to_store_error(error(StatusCode::Conflict)),
            StoreError::AlreadyExists
        ));
        assert!(matches!(
            to_store_error(error(StatusCode::NotFound)),
            StoreError::NotFound
        ));
    }

    #[test]
    fn throttling_and_server_failures_are_unavailable() {
        for status in [
            StatusCode::TooManyRequests,
            StatusCode::ServiceUnavailable,
            StatusCode::InternalServerError,
        ] {
            assert!(
                matches!(to_store_error(error(status)), StoreError::Unavailable(_)),
                "{status:?}"
            );
        }
        assert!(matches!(
            to_store_error(error(StatusCode::BadRequest)),
            StoreError::Unexpected(_)
        ));
    }
}
