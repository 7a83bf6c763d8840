//! Event bus adapters.

pub mod in_process;
pub mod rabbitmq;

pub use in_process::InProcessBus;
pub use rabbitmq::RabbitMqBus;
