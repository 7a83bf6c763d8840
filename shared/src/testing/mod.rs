//! Test support shared by unit and integration tests: the store port's contract
//! suite, run against every adapter.

pub mod store_contract;
