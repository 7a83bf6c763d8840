//! Ports: the narrow interfaces through which the engine reaches the world.
//! Adapters in `crate::adapters` implement them; the engine sees only these traits.

pub mod event_bus;
pub mod integration_directory;
pub mod provider;
pub mod shard_source;
pub mod store;

pub use event_bus::{EventBus, PublishError};
pub use integration_directory::{DirectoryError, IntegrationDirectory};
pub use provider::{
    PageRequest, Provider, ProviderError, ProviderRegistry, PushRequest, RecordPage,
};
pub use store::{
    Collection, DocumentStore, ETag, Filter, FilterOp, Query, QueryPage, StoreError,
    StoredDocument, TextDocument,
};
