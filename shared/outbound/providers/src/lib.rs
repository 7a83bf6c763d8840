//! Provider adapters: the external systems this service reads and writes
//! natively, over one HTTP policy ([`http`]). A new provider is a module here
//! implementing [`sync_core::ports::Provider`], plus one line in
//! [`registry`].

pub mod http;
pub mod hubspot;
pub mod registry;
pub mod salesforce;

pub use registry::register;
