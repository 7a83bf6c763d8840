//! The runtime around the engine: the background task runner (graceful
//! stop) and periodic ticks (timers, recovery sweeps).

pub mod runner;
pub mod ticks;

pub use runner::TaskRunner;
pub use ticks::{every, publish_every};
