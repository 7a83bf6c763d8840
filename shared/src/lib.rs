//! integration-sync core: everything but the entry points.
//!
//! - `domain`: what the service talks about (tasks, executions, conflicts,
//!   webhooks, integrations, records, events);
//! - `engine`: the sync engine (trigger, inbound runs, publishing);
//! - `ports`: the traits the engine uses to reach the world;
//! - `adapters`: their implementations (SQLite, RabbitMQ, in-process bus,
//!   sandbox provider, integration-manager, local integrations file);
//! - `http`: the API router; `auth`: platform JWTs; `outgoing_http`: the
//!   HTTP clients it calls others with;
//! - `config`, `telemetry`, `app`: typed configuration, logging and wiring.

pub mod adapters;
pub mod app;
pub mod auth;
pub mod config;
pub mod domain;
pub mod engine;
pub mod http;
pub mod outgoing_http;
pub mod ports;
pub mod repository;
pub mod telemetry;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod triggers;
pub mod webhooks;
