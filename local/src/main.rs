//! The container runner: every trigger in one process — the API on `PORT`
//! (3052), the service queue's consumer and the two timers.
//! `integration-sync token --tenant <uuid>` prints a development token for
//! calling the API; `integration-sync dlq …` lists and replays dead letters
//! (a build with RabbitMQ: the `cloud` feature); `integration-sync sync` and
//! `integration-sync tasks` start, follow and list syncs through the API.

mod dlq;
mod operator;

use std::{path::PathBuf, time::Duration};

use clap::{Parser, Subcommand};
use sync_core::{auth::TokenIssuer, config, telemetry};
use wiring::App;

#[derive(Parser)]
#[command(name = "integration-sync", version, about)]
struct Cli {
    /// Configuration file.
    #[arg(
        long,
        env = "CONFIG_FILE",
        default_value = "config/default.yaml",
        global = true
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and run syncs (the default).
    Serve,
    /// Print the OpenAPI document (YAML) generated from the code.
    Openapi,
    /// Exit 0 when the service on `PORT` answers `/health` (container health checks).
    Healthcheck,
    /// Print a signed development token for a tenant.
    Token {
        #[arg(long, default_value = operator::DEV_TENANT)]
        tenant: uuid::Uuid,
        /// The user id (the platform's are uuids; events carry it as `metadata.userId`).
        #[arg(long, default_value = operator::DEV_USER)]
        user: String,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
    },
    /// Start a sync (or follow one with `--task`) through the service's API;
    /// `--follow` shows its progress and exits non-zero unless it completes.
    Sync(operator::SyncArgs),
    /// The newest sync tasks, through the service's API.
    Tasks(operator::TasksArgs),
    /// The dead-letter queue: list, show, replay.
    Dlq {
        #[command(subcommand)]
        action: dlq::DlqCommand,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Openapi) = cli.command {
        print!("{}", sync_http::openapi::yaml());
        return Ok(());
    }
    let settings = config::load_from_file(&cli.config)?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi => unreachable!("handled before loading configuration"),
        Command::Healthcheck => healthcheck(settings.server.port).await,
        Command::Token { tenant, user, ttl } => {
            let token = TokenIssuer::new(&settings.jwt).user_token(
                &user,
                Some(tenant),
                Duration::from_secs(ttl),
            );
            println!("{token}");
            Ok(())
        }
        Command::Serve => serve(settings).await,
        Command::Sync(args) => operator::sync(&settings, args).await,
        Command::Tasks(args) => operator::tasks(&settings, args).await,
        Command::Dlq { action } => wiring::dead_letters::run(&settings, action.into()).await,
    }
}

async fn serve(settings: config::Settings) -> anyhow::Result<()> {
    telemetry::init(&settings.log);
    let address = format!("{}:{}", settings.server.host, settings.server.port);
    let app = App::build(settings).await?;
    let listener = tokio::net::TcpListener::bind(&address).await?;
    tracing::info!(address = %listener.local_addr()?, instance = %app.core.instance_id, "integration-sync listening");
    app.run_container(listener, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// A plain HTTP/1.1 GET of `/health` on loopback: the runtime image has no curl.
async fn healthcheck(port: u16) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::time::timeout(
        Duration::from_secs(2),
        tokio::net::TcpStream::connect(("127.0.0.1", port)),
    )
    .await??;
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut answer)).await??;
    anyhow::ensure!(
        answer.starts_with(b"HTTP/1.1 200"),
        "the service is not healthy"
    );
    Ok(())
}

/// Resolves on ctrl-c or SIGTERM (what a container runtime sends).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown requested");
}
