//! Integrations from a local YAML file, for embedded mode (integration-manager
//! itself is in [`crate::adapters::platform`]).

pub mod file;

pub use file::FileDirectory;
