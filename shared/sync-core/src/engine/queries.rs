//! Reading tasks, executions and conflicts: filtered, newest first, paged.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::SyncEngine;
use crate::{
    domain::{Direction, SyncConflict, SyncExecution, SyncTask, TaskStatus, TenantId, time},
    ports::store::{Filter, Query, StoreError},
    repository::Page,
};

#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub status: Option<TaskStatus>,
    pub integration_id: Option<String>,
    pub direction: Option<Direction>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default)]
pub struct ConflictFilter {
    pub resolved: Option<bool>,
    pub integration_id: Option<String>,
    pub entity_type: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("not found")]
    NotFound,
    #[error("the continuation token is not valid for this query")]
    InvalidContinuation,
    #[error("the store failed: {0}")]
    Store(StoreError),
}

impl From<StoreError> for ListError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::InvalidQuery(_) => ListError::InvalidContinuation,
            other => ListError::Store(other),
        }
    }
}

impl SyncEngine {
    pub async fn list_tasks(
        &self,
        tenant: TenantId,
        filter: TaskFilter,
        limit: usize,
        continuation: Option<&str>,
    ) -> Result<Page<SyncTask>, ListError> {
        let mut filters = Vec::new();
        if let Some(status) = filter.status {
            filters.push(Filter::eq("status", status.as_str()));
        }
        if let Some(integration_id) = filter.integration_id {
            filters.push(Filter::eq("integrationId", integration_id));
        }
        if let Some(direction) = filter.direction {
            filters.push(Filter::eq("direction", direction.as_str()));
        }
        if let Some(from) = filter.created_from {
            filters.push(Filter::gte("createdAt", time::format(&from)));
        }
        if let Some(to) = filter.created_to {
            filters.push(Filter::lte("createdAt", time::format(&to)));
        }
        let query = Query {
            filters,
            order_by: "createdAt",
            descending: true,
        };
        Ok(self.repo.query(tenant, &query, limit, continuation).await?)
    }

    /// A task's executions, newest first; `NotFound` for an unknown task.
    pub async fn list_executions(
        &self,
        tenant: TenantId,
        task_id: Uuid,
        limit: usize,
        continuation: Option<&str>,
    ) -> Result<Page<SyncExecution>, ListError> {
        self.repo
            .get::<SyncTask>(tenant, &task_id.to_string())
            .await?
            .ok_or(ListError::NotFound)?;
        let query = Query {
            filters: vec![Filter::eq("taskId", task_id.to_string())],
            order_by: "startedAt",
            descending: true,
        };
        Ok(self.repo.query(tenant, &query, limit, continuation).await?)
    }

    pub async fn list_conflicts(
        &self,
        tenant: TenantId,
        filter: ConflictFilter,
        limit: usize,
        continuation: Option<&str>,
    ) -> Result<Page<SyncConflict>, ListError> {
        let mut filters = Vec::new();
        if let Some(resolved) = filter.resolved {
            filters.push(Filter::eq("resolved", resolved));
        }
        if let Some(integration_id) = filter.integration_id {
            filters.push(Filter::eq("integrationId", integration_id));
        }
        if let Some(entity_type) = filter.entity_type {
            filters.push(Filter::eq("entityType", entity_type));
        }
        let query = Query {
            filters,
            order_by: "createdAt",
            descending: true,
        };
        Ok(self.repo.query(tenant, &query, limit, continuation).await?)
    }

    pub async fn get_conflict(
        &self,
        tenant: TenantId,
        conflict_id: Uuid,
    ) -> Result<SyncConflict, ListError> {
        self.repo
            .get::<SyncConflict>(tenant, &conflict_id.to_string())
            .await?
            .map(|v| v.doc)
            .ok_or(ListError::NotFound)
    }
}
