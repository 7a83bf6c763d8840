//! `http-api`: the service's HTTP API behind API Gateway (HTTP API), the same
//! axum router the container serves on port 3052.

use integration_sync_functions::Functions;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let functions = Functions::start()
        .await
        .map_err(|e| lambda_http::Error::from(e.to_string()))?;
    lambda_http::run(functions.app().router()).await
}
