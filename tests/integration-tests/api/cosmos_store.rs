//! The store port's contract, run against Cosmos DB (the emulator).

use integration_tests::cosmos::{connect_unique_database, unique_database_options};
use store_cosmos::CosmosStore;
use sync_core::testing::store_contract;

#[tokio::test]
async fn cosmos_store_honours_the_store_contract() {
    let store = connect_unique_database().await;
    store_contract::run_all(&store).await;
}

#[tokio::test]
async fn connecting_twice_to_existing_containers_is_fine() {
    let mut options = unique_database_options();
    let mut created = false;
    for _ in 0..5 {
        match CosmosStore::connect(options.clone()).await {
            Ok(_) => {
                created = true;
                break;
            }
            // The emulator's resource-id quirk (see spawn::EMULATOR_RID_QUIRK).
            Err(e)
                if e.to_string()
                    .contains(integration_tests::spawn::EMULATOR_RID_QUIRK) =>
            {
                options = unique_database_options()
            }
            Err(e) => panic!("first connect creates: {e}"),
        }
    }
    assert!(created, "the emulator kept minting unreadable resource ids");
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

/// The provider request budget held by two instances, each with its own
/// client of one Cosmos DB database.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_cosmos_db_never_exceed_a_shared_request_budget() {
    use std::sync::Arc;
    use sync_core::repository::Repository;
    let (first, second) = integration_tests::cosmos::connect_unique_database_twice().await;
    sync_core::testing::budget_check::two_instances_never_exceed_the_budget(
        Repository::new(Arc::new(first)),
        Repository::new(Arc::new(second)),
    )
    .await;
}
