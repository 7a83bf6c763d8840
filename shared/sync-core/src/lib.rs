//! integration-sync's core: what the service knows and does, with no vendor
//! SDK in it. Adapters (stores, the broker, providers, the platform's
//! neighbours) are crates of their own that implement [`ports`]; the entry
//! points (the HTTP router, the container, the functions) are crates of
//! their own that drive [`engine`] and [`inbound`].
//!
//! - `domain`: what the service talks about (tasks, executions, conflicts,
//!   webhooks, integrations, shards, field mappings, records, events);
//! - `ports`: the traits through which the core reaches the world, each with
//!   the guarantees an implementation gives;
//! - `engine`: the sync engine, in named stages (trigger, inbound run,
//!   outbound sync, conflict resolution, recovery, outbox);
//! - `inbound`: what the service does with each event it consumes (the
//!   dispatcher shared by the container's consumer and the functions), and
//!   the timers' ticks;
//! - `outbound`: the adapters that need nothing from outside (the in-process
//!   bus, the integrations file, the metering decorator);
//! - `runtime`: the background task runner and periodic ticks;
//! - `webhooks`: webhook registration rules and the SSRF URL guard;
//! - `assembly`: the core built from the adapters a host chose;
//! - `config`, `auth`, `repository`, `telemetry`: typed configuration,
//!   platform JWTs, typed documents over the store port, logging.

pub mod assembly;
pub mod auth;
pub mod config;
pub mod domain;
pub mod engine;
pub mod inbound;
pub mod outbound;
pub mod ports;
pub mod repository;
pub mod runtime;
pub mod telemetry;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod webhooks;
