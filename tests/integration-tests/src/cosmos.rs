//! The Cosmos DB emulator (`../shared/tools/cosmos-emulator`), as tests see it.
//! `scripts/test` starts it; a test that cannot reach it fails, it does not skip.

use secrecy::SecretString;
use store_cosmos::{CosmosStore, CosmosStoreOptions};
use sync_core::ports::Collection;
use uuid::Uuid;

/// The emulator's well-known key (it accepts any key; real accounts do not).
pub const EMULATOR_KEY: &str =
    "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==";

pub fn emulator_endpoint() -> String {
    std::env::var("TEST_COSMOS_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:8081/".into())
}

/// Options for a database no other test uses.
pub fn unique_database_options() -> CosmosStoreOptions {
    let database_id = format!("it-{}", Uuid::new_v4().simple());
    CosmosStoreOptions {
        endpoint: emulator_endpoint(),
        key: SecretString::from(EMULATOR_KEY.to_owned()),
        containers: Collection::ALL
            .into_iter()
            .map(|c| (c, format!("integration_{}", c.key())))
            .collect(),
        database_id,
        create_if_missing: true,
        region: "East US".into(),
        allow_http2: false,
    }
}

pub async fn connect_unique_database() -> CosmosStore {
    connect_fresh(unique_database_options).await
}

/// A fresh database with the containers `config/default.yaml` names, as a
/// deployed function expects them.
pub async fn connect_deployment_database() -> CosmosStore {
    connect_fresh(|| {
        let mut cosmos = crate::spawn::test_settings().cosmos_db;
        cosmos.endpoint = Some(emulator_endpoint());
        cosmos.key = Some(SecretString::from(EMULATOR_KEY.to_owned()));
        cosmos.database_id = format!("it-{}", Uuid::new_v4().simple());
        cosmos.allow_http2 = false;
        CosmosStoreOptions::from_settings(&cosmos).expect("an endpoint and a key")
    })
    .await
}

/// A fresh database with the platform's container names, and its id, for a
/// process that connects to it by itself (the first implementation, in the
/// side-by-side bench).
pub async fn fresh_platform_database() -> (CosmosStore, String) {
    let id = std::sync::Mutex::new(String::new());
    let store = connect_fresh(|| {
        let options = unique_database_options();
        *id.lock().unwrap() = options.database_id.clone();
        options
    })
    .await;
    (store, id.into_inner().unwrap())
}

/// Two clients of one fresh database: two instances of the service.
pub async fn connect_unique_database_twice() -> (CosmosStore, CosmosStore) {
    let (first, options) = connect_fresh_with(unique_database_options).await;
    let second = CosmosStore::connect(options)
        .await
        .expect("a second client of the same database");
    (first, second)
}

async fn connect_fresh(options: impl Fn() -> CosmosStoreOptions) -> CosmosStore {
    connect_fresh_with(options).await.0
}

async fn connect_fresh_with(
    options: impl Fn() -> CosmosStoreOptions,
) -> (CosmosStore, CosmosStoreOptions) {
    for _ in 0..5 {
        let chosen = options();
        match CosmosStore::connect(chosen.clone()).await {
            Ok(store) => return (store, chosen),
            // See `spawn::EMULATOR_RID_QUIRK`: retry with a fresh database.
            Err(e) if e.to_string().contains(crate::spawn::EMULATOR_RID_QUIRK) => continue,
            Err(e) => panic!(
                "the Cosmos DB emulator is not usable at {} ({e}); start it with \
                 `../shared/tools/cosmos-emulator start` (scripts/test does)",
                emulator_endpoint()
            ),
        }
    }
    panic!("the Cosmos emulator kept minting unreadable resource ids")
}
