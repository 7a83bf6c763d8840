//! Test support: the app spawned on port 0 with a fresh data directory, the
//! real RabbitMQ under unique exchange and queue names, and an observer queue
//! that captures every event the app publishes.

pub mod broker;
pub mod cosmos;
pub mod fakes;
pub mod faults;
pub mod fixtures;
pub mod lambda;
pub mod platform_broker;
pub mod spawn;
pub mod tokens;

pub use broker::{EventObserver, rabbitmq_url};
pub use fixtures::{IntegrationFixture, sandbox_integration};
pub use spawn::{SpawnOptions, TestApp, spawn_app};
