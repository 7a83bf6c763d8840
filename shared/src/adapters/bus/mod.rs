//! Event bus adapters.

pub mod consumer;
pub mod in_process;
pub mod metered;
pub mod rabbitmq;

pub use in_process::InProcessBus;
pub use metered::MeteredBus;
pub use rabbitmq::RabbitMqBus;
