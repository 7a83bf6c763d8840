//! Provider adapters. A new external system goes here as its own module
//! implementing [`crate::ports::Provider`], registered in `crate::app`.

pub mod http;
pub mod hubspot;
pub mod proxy;
pub mod salesforce;
pub mod sandbox;

pub use sandbox::SandboxProvider;
