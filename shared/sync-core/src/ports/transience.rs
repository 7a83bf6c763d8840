//! Whether a failure is worth retrying: one rule, read by every inbound edge.
//! The HTTP API answers a transient failure with 503, the container's consumer
//! requeues it, a function fails its batch so the event source redelivers it;
//! anything else is the caller's or the data's fault and retrying cannot help
//! (a 4xx, a dead-lettered message).

use super::{DirectoryError, ProviderError, PublishError, StoreError, shard_source::ShardError};

/// An error, boxed with its source chain, for edges that carry any failure.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

pub trait Transience {
    /// A dependency was down, slow or busy; the same request may work later.
    fn is_transient(&self) -> bool;
}

impl Transience for StoreError {
    fn is_transient(&self) -> bool {
        // A failed precondition means another writer got there first: the
        // operation, run again, reads the new document.
        matches!(
            self,
            StoreError::Unavailable(_) | StoreError::PreconditionFailed
        )
    }
}

impl Transience for ProviderError {
    fn is_transient(&self) -> bool {
        matches!(
            self,
            ProviderError::Transient(_) | ProviderError::RateLimited { .. }
        )
    }
}

impl Transience for DirectoryError {
    fn is_transient(&self) -> bool {
        matches!(self, DirectoryError::Unavailable(_))
    }
}

impl Transience for ShardError {
    fn is_transient(&self) -> bool {
        matches!(self, ShardError::Unavailable(_))
    }
}

impl Transience for PublishError {
    fn is_transient(&self) -> bool {
        // A refused message (a full queue) may be taken later; a topology
        // conflict stays until someone changes the broker.
        matches!(
            self,
            PublishError::Unavailable(_) | PublishError::Nacked { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn outages_and_busy_dependencies_are_transient() {
        assert!(StoreError::Unavailable("down".into()).is_transient());
        assert!(StoreError::PreconditionFailed.is_transient());
        assert!(ProviderError::Transient("503".into()).is_transient());
        assert!(
            ProviderError::RateLimited {
                retry_after: Some(Duration::from_secs(1))
            }
            .is_transient()
        );
        assert!(DirectoryError::Unavailable("timeout".into()).is_transient());
        assert!(ShardError::Unavailable("timeout".into()).is_transient());
        assert!(PublishError::Unavailable("closed".into()).is_transient());
        assert!(
            PublishError::Nacked {
                refused: 1,
                total: 2
            }
            .is_transient()
        );
    }

    #[test]
    fn refusals_and_bad_data_are_not() {
        assert!(!StoreError::NotFound.is_transient());
        assert!(!StoreError::InvalidQuery("x".into()).is_transient());
        assert!(!ProviderError::Unauthorized.is_transient());
        assert!(!ProviderError::Unsupported("writes".into()).is_transient());
        assert!(!DirectoryError::NotFound("i-1".into()).is_transient());
        assert!(
            !DirectoryError::Invalid {
                id: "i-1".into(),
                reason: "no provider".into()
            }
            .is_transient()
        );
        assert!(!ShardError::NotFound("s-1".into()).is_transient());
        assert!(!PublishError::Topology("exchange".into()).is_transient());
    }
}
