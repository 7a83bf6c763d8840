//! Integration directory adapters.

pub mod file;
pub mod integration_manager;

pub use file::FileDirectory;
pub use integration_manager::IntegrationManagerClient;
