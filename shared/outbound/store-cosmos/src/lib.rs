//! The production store: Azure Cosmos DB (NoSQL API) through the official
//! `azure_data_cosmos` client.
//!
//! One container per [`Collection`], all partitioned on `/tenantId`, so every
//! operation names its tenant and can never reach another tenant's documents.
//! Writes return the server's ETag; `replace` and `delete` send it back as
//! `If-Match`, so a lost race is a 412 (`PreconditionFailed`), never an
//! overwrite. Throttling (429) is retried by the client with the server's
//! retry-after, bounded (`max_retry_count` 9, 30 s by default); what is still
//! failing after that is `Unavailable`.

mod connect;
mod errors;
mod ledger;
mod ops;

use std::collections::HashMap;

use azure_data_cosmos::clients::ContainerClient;

pub use connect::CosmosStoreOptions;
pub use ledger::{LedgerSnapshot, requests_sent};

use sync_core::ports::store::Collection;

pub struct CosmosStore {
    containers: HashMap<Collection, ContainerClient>,
    database_id: String,
}

impl CosmosStore {
    fn container(&self, collection: Collection) -> &ContainerClient {
        self.containers
            .get(&collection)
            .expect("every collection has a container client from connect()")
    }

    pub fn database_id(&self) -> &str {
        &self.database_id
    }
}
