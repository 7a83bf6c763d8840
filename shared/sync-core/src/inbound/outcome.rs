//! What handling one consumed event did: typed for the hosts, written as a
//! sentence into the processed-event marker.

use std::fmt;

use uuid::Uuid;

use super::token::RefreshOutcome;
use crate::engine::{TakeUp, limits::LimitRejection, outbound::OutboundOutcome};

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A shard.updated was written out (or skipped, conflicted, refused).
    Outbound(OutboundOutcome),
    /// A schedule or webhook started a sync task.
    TaskStarted { task_id: Uuid },
    /// A schedule or webhook hit a limit; the next one comes, so it is no failure.
    NotStarted(LimitRejection),
    /// A task handed over (`integration.sync.run_requested`) was taken up, or
    /// found needing nothing.
    TakeUp { task_id: Uuid, result: TakeUp },
    /// A token-refresh request was carried out (or found already under way).
    Token(RefreshOutcome),
    /// A mapping result was counted on its task.
    MappingCounted,
    /// A mapping result named a task this service does not know (another
    /// consumer's, or one long expired).
    MappingTaskUnknown,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Outbound(OutboundOutcome::Pushed { fields }) => {
                write!(f, "pushed {}", fields.join(", "))
            }
            Outcome::Outbound(OutboundOutcome::Conflict { conflict_id }) => {
                write!(f, "conflict {conflict_id} recorded")
            }
            Outcome::Outbound(OutboundOutcome::Skipped(why)) => write!(f, "skipped: {why}"),
            Outcome::Outbound(OutboundOutcome::Refused(why)) => write!(f, "refused: {why}"),
            Outcome::TaskStarted { task_id } => write!(f, "task {task_id} started"),
            Outcome::NotStarted(why) => write!(f, "not started: {why}"),
            Outcome::TakeUp { task_id, result } => match result {
                TakeUp::Started => write!(f, "task {task_id} taken up"),
                TakeUp::NotWaiting(status) => write!(
                    f,
                    "task {task_id} is not waiting for a run ({})",
                    status.as_str()
                ),
                TakeUp::NoSlot => write!(
                    f,
                    "task {task_id} lost its slot and none is free; recovery resumes it"
                ),
                TakeUp::Abandoned => write!(f, "task {task_id} can no longer run; ended as failed"),
            },
            Outcome::Token(RefreshOutcome::Refreshed) => f.write_str("token refreshed"),
            Outcome::Token(RefreshOutcome::AlreadyInProgress) => {
                f.write_str("another instance is refreshing this connection")
            }
            Outcome::Token(RefreshOutcome::Failed(why)) => write!(f, "token refresh failed: {why}"),
            Outcome::MappingCounted => f.write_str("counted"),
            Outcome::MappingTaskUnknown => f.write_str("task unknown; not counted"),
        }
    }
}
