//! End-to-end tests: the app on port 0, the embedded store, the real RabbitMQ.

mod auth;
mod bidirectional;
mod conflicts_api;
mod conformance;
mod container;
mod cosmos_store;
mod deploy_files;
mod event_bus;
mod faults;
mod function_dependencies;
mod fuzz;
mod health;
mod hubspot;
mod inbound_sync;
mod incremental;
mod integration_manager;
mod limits;
mod observability;
mod proxy;
mod salesforce;
mod security;
mod shutdown;
mod tasks_api;
mod webhook_delivery;
mod webhooks_api;
