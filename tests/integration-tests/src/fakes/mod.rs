//! Fake neighbours on port 0: CRM providers and the platform's services.

pub mod hubspot;
pub mod platform;
pub mod salesforce;
pub mod webhook_receiver;

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0");
    let address = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, router).await.expect("fake server") });
    address
}
