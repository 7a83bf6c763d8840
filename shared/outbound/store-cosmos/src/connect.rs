//! Connecting: client settings, and creating the database and containers when
//! they are missing (configurable).

use std::collections::HashMap;

use azure_data_cosmos::{
    AccountEndpoint, AccountReference, CosmosClient, CosmosRuntime, RoutingStrategy,
    models::ContainerProperties,
    options::{BinaryEncodingOptions, ConnectionPoolOptions},
};
use secrecy::{ExposeSecret, SecretString};

use super::{CosmosStore, errors::describe};
use sync_core::ports::store::{Collection, StoreError};

/// The partition key of every container: tenants never share a partition.
pub const PARTITION_KEY_PATH: &str = "/tenantId";

#[derive(Clone)]
pub struct CosmosStoreOptions {
    pub endpoint: String,
    pub key: SecretString,
    pub database_id: String,
    /// Container name per collection.
    pub containers: HashMap<Collection, String>,
    pub create_if_missing: bool,
    /// The Azure region the service runs in (routing preference).
    pub region: String,
    /// HTTP/2 to the gateway. Cosmos DB accounts speak it; the local test
    /// gateway only speaks HTTP/1.1.
    pub allow_http2: bool,
}

impl CosmosStoreOptions {
    /// From `cosmos_db`, when an endpoint is configured (validation guarantees the key).
    pub fn from_settings(cosmos: &sync_core::config::CosmosSettings) -> Option<Self> {
        let endpoint = cosmos.endpoint.clone()?;
        let key = cosmos.key.clone()?;
        let names = &cosmos.containers;
        let containers = Collection::ALL
            .into_iter()
            .map(|collection| {
                let name = match collection {
                    Collection::SyncTasks => &names.sync_tasks,
                    Collection::Executions => &names.executions,
                    Collection::Conflicts => &names.conflicts,
                    Collection::Webhooks => &names.webhooks,
                    Collection::Leases => &names.leases,
                    Collection::SyncState => &names.sync_state,
                    Collection::ProcessedEvents => &names.processed_events,
                    Collection::Deliveries => &names.deliveries,
                };
                (collection, name.clone())
            })
            .collect();
        Some(CosmosStoreOptions {
            endpoint,
            key,
            database_id: cosmos.database_id.clone(),
            containers,
            create_if_missing: cosmos.create_containers,
            region: cosmos.region.clone(),
            allow_http2: cosmos.allow_http2,
        })
    }
}

impl CosmosStore {
    pub async fn connect(options: CosmosStoreOptions) -> Result<Self, StoreError> {
        let endpoint: AccountEndpoint = options.endpoint.parse().map_err(|e| {
            StoreError::Unavailable(format!(
                "invalid Cosmos DB endpoint {}: {e}",
                options.endpoint
            ))
        })?;
        let account = AccountReference::with_authentication_key(
            endpoint,
            options.key.expose_secret().to_owned(),
        );
        // Binary encoding is off: the Linux emulators (and the test gateway) only
        // speak JSON, and JSON costs nothing measurable at our document sizes.
        let unavailable = |e: azure_data_cosmos::CosmosError| {
            StoreError::Unavailable(format!("cannot reach Cosmos DB: {}", describe(&e)))
        };
        // The SDK builds its own reqwest clients.
        outgoing_http::install_crypto_provider();
        let pool = ConnectionPoolOptions::builder()
            .with_is_http2_allowed(options.allow_http2)
            .build()
            .map_err(unavailable)?;
        let runtime = CosmosRuntime::builder()
            .with_connection_pool(pool)
            .build()
            .await
            .map_err(unavailable)?;
        let client = CosmosClient::builder()
            .with_runtime(runtime)
            .with_binary_encoding_options(BinaryEncodingOptions::new().with_enabled(false))
            .build(
                account,
                RoutingStrategy::ProximityTo(options.region.clone().into()),
            )
            .await
            .map_err(unavailable)?;

        if options.create_if_missing {
            create_missing(&client, &options).await?;
        }
        let database = client.database_client(options.database_id.as_str());
        let mut containers = HashMap::new();
        for collection in Collection::ALL {
            let name = options
                .containers
                .get(&collection)
                .cloned()
                .ok_or_else(|| {
                    StoreError::Unavailable(format!(
                        "no container configured for {}",
                        collection.key()
                    ))
                })?;
            let container = database
                .container_client(name.as_str(), None)
                .await
                .map_err(|e| {
                    StoreError::Unavailable(format!(
                        "Cosmos DB container {}/{name} is not usable: {}",
                        options.database_id,
                        describe(&e)
                    ))
                })?;
            containers.insert(collection, container);
        }
        Ok(CosmosStore {
            containers,
            database_id: options.database_id,
        })
    }
}

async fn create_missing(
    client: &CosmosClient,
    options: &CosmosStoreOptions,
) -> Result<(), StoreError> {
    match client.create_database(&options.database_id, None).await {
        Ok(_) => tracing::info!(database = %options.database_id, "created Cosmos DB database"),
        Err(e) if e.status().is_conflict() => {}
        Err(e) => {
            return Err(StoreError::Unavailable(format!(
                "cannot create Cosmos DB database {}: {}",
                options.database_id,
                describe(&e)
            )));
        }
    }
    let database = client.database_client(options.database_id.as_str());
    for name in options.containers.values() {
        let properties = ContainerProperties::new(name.clone(), PARTITION_KEY_PATH.into());
        match database.create_container(properties, None).await {
            Ok(_) => tracing::info!(container = %name, "created Cosmos DB container"),
            Err(e) if e.status().is_conflict() => {}
            Err(e) => {
                return Err(StoreError::Unavailable(format!(
                    "cannot create Cosmos DB container {name}: {}",
                    describe(&e)
                )));
            }
        }
    }
    Ok(())
}
