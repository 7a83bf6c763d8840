//! End-to-end tests: the app on port 0, the embedded store, the real RabbitMQ.

mod auth;
mod cosmos_store;
mod health;
mod inbound_sync;
mod integration_manager;
mod limits;
mod shutdown;
