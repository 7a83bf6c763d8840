//! Adapters that need nothing from outside, for embedded mode and tests: the
//! in-process event bus, integrations from a local file, and the decorator
//! that meters any bus.

pub mod file_directory;
pub mod in_process_bus;
pub mod metered_bus;

pub use file_directory::FileDirectory;
pub use in_process_bus::InProcessBus;
pub use metered_bus::MeteredBus;
