//! Adapters that need nothing from outside, for embedded mode and tests: the
//! in-process event bus, integrations from a local file, the decorator
//! that meters any bus, and the provider request budget over the store.

pub mod file_directory;
pub mod in_process_bus;
pub mod metered_bus;
pub mod request_budget;

pub use file_directory::FileDirectory;
pub use in_process_bus::InProcessBus;
pub use metered_bus::MeteredBus;
pub use request_budget::StoreBudget;
