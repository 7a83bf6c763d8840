//! Ports: the narrow interfaces through which the core reaches the world.
//! Adapter crates (store-cosmos, store-sqlite, bus-rabbitmq, providers,
//! sandbox, platform) and the in-core adapters in [`crate::outbound`]
//! implement them; the engine sees only these traits.

pub mod connections;
pub mod credentials;
pub mod event_bus;
pub mod integration_directory;
pub mod provider;
pub mod request_budget;
pub mod shard_source;
pub mod store;
pub mod transience;

pub use connections::{ConnectionRefresher, RefreshAnswer};
pub use credentials::{CredentialSource, Credentials};
pub use event_bus::{Confirming, EventBus, PublishError};
pub use integration_directory::{DirectoryError, IntegrationDirectory};
pub use provider::{
    PageRequest, Provider, ProviderError, ProviderRegistry, PushRequest, RecordPage,
};
pub use request_budget::{BudgetError, LimitReport, RequestBudget};
pub use store::{
    Collection, DocumentStore, ETag, Filter, FilterOp, HeadedText, Query, QueryPage, StoreError,
    StoredDocument, TextDocument,
};
pub use transience::{BoxError, Transience};
