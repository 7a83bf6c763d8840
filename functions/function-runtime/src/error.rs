//! Errors a function reports to the Lambda runtime, with a clean type name.

use lambda_runtime::Diagnostic;
use sync_core::ports::BoxError;

#[derive(Debug, thiserror::Error)]
pub enum FunctionError {
    /// Wired to the wrong event source: fail loudly rather than drop events.
    #[error("wrong event source `{0}`: this function expects Amazon MQ for RabbitMQ (aws:rmq)")]
    WrongEventSource(String),
    #[error("not an Amazon MQ batch or a schedule: {0}")]
    UnknownEvent(String),
    /// A dependency failed: the whole batch is redelivered (handled events are skipped then).
    #[error("retry the batch: {0}")]
    Transient(#[source] BoxError),
}

impl From<FunctionError> for Diagnostic {
    fn from(e: FunctionError) -> Self {
        let error_type = match &e {
            FunctionError::WrongEventSource(_) => "WrongEventSource",
            FunctionError::UnknownEvent(_) => "UnknownEvent",
            FunctionError::Transient(_) => "Transient",
        };
        Diagnostic {
            error_type: error_type.into(),
            error_message: e.to_string(),
        }
    }
}
