//! `integration-sync dlq list | show | replay`: the command line over
//! `wiring::dead_letters`.

use clap::{Args, Subcommand};
use wiring::dead_letters::{DlqRequest, DlqSelection};

#[derive(Subcommand)]
pub enum DlqCommand {
    /// Every dead-lettered message: id, routing key, age, reason; counts by reason.
    List {
        #[command(flatten)]
        scan: Scan,
    },
    /// One message in full: headers and body.
    Show {
        #[arg(long)]
        id: String,
        #[command(flatten)]
        scan: Scan,
    },
    /// Sends selected messages back to their routing key (to this service's
    /// queue, unless `--to` names an exchange) and removes them from the
    /// dead-letter queue once the broker confirmed them.
    Replay {
        #[command(flatten)]
        select: Selection,
        /// Say what would be replayed; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// The exchange to publish to (default: `<dead_letter_exchange>.replay`,
        /// bound to the service queue only). The functions' deployment replays
        /// to the platform's exchange.
        #[arg(long)]
        to: Option<String>,
        #[command(flatten)]
        scan: Scan,
    },
}

#[derive(Args)]
pub struct Scan {
    /// Read at most this many messages.
    #[arg(long, default_value_t = 10_000)]
    limit: usize,
}

#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct Selection {
    /// A message id (repeatable).
    #[arg(long)]
    id: Vec<String>,
    /// Every message whose reason contains this text.
    #[arg(long)]
    reason: Option<String>,
    /// Every message.
    #[arg(long)]
    all: bool,
}

impl From<DlqCommand> for DlqRequest {
    fn from(command: DlqCommand) -> Self {
        match command {
            DlqCommand::List { scan } => DlqRequest::List { limit: scan.limit },
            DlqCommand::Show { id, scan } => DlqRequest::Show {
                id,
                limit: scan.limit,
            },
            DlqCommand::Replay {
                select,
                dry_run,
                to,
                scan,
            } => DlqRequest::Replay {
                select: DlqSelection {
                    ids: select.id,
                    reason: select.reason,
                    all: select.all,
                },
                dry_run,
                to,
                limit: scan.limit,
            },
        }
    }
}
