//! The store port's contract, run against Cosmos DB (the emulator).

use integration_tests::cosmos::{connect_unique_database, unique_database_options};
use sync_core::{adapters::store::CosmosStore, testing::store_contract};

#[tokio::test]
async fn cosmos_store_honours_the_store_contract() {
    let store = connect_unique_database().await;
    store_contract::run_all(&store).await;
}

#[tokio::test]
async fn connecting_twice_to_existing_containers_is_fine() {
    let options = unique_database_options();
    CosmosStore::connect(options.clone())
        .await
        .expect("first connect creates");
    CosmosStore::connect(options)
        .await
        .expect("second connect reuses");
}

#[tokio::test]
async fn an_unreachable_account_is_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut options = unique_database_options();
    options.endpoint = format!("http://127.0.0.1:{port}/");
    let error = match CosmosStore::connect(options).await {
        Ok(_) => panic!("connecting to a closed port must fail"),
        Err(e) => e.to_string(),
    };
    assert!(error.contains("Cosmos DB"), "{error}");
}
