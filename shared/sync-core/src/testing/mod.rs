//! Test support shared by the core's tests and every adapter crate's: the
//! store port's contract suite (run against every store), in-memory
//! implementations of the ports, and the core assembled over them, so the
//! core is tested without any adapter crate.

pub mod budget_check;
pub mod fake_provider;
pub mod harness;
pub mod memory_store;
pub mod store_contract;

pub use fake_provider::FakeProvider;
pub use harness::Harness;
pub use memory_store::MemoryStore;
