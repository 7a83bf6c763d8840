//! End-to-end tests: the app on port 0, the embedded store, the real RabbitMQ.

mod auth;
mod health;
mod inbound_sync;
mod integration_manager;
mod shutdown;
