//! The request budget of a tenant for a provider, held in the store so that
//! every instance (ten function sandboxes, two containers) shares it.
//!
//! Time is cut into windows of `burst / requests_per_second` seconds, each
//! allowing `burst` requests: the sustained rate is `requests_per_second`,
//! and a quiet tenant may send a burst at once. One document per tenant and
//! provider (`budget-<provider>`, the tenant's partition) counts the requests
//! granted in the current window. An instance claims a *block* of them with a
//! compare-and-set and spends it locally, so the store is written once per
//! block, not per request; a block never outlives its window, so together
//! the instances never exceed the window's allowance (unspent tokens are
//! lost, never lent).
//!
//! A provider near its own limit (see [`LimitReport`]) pauses the tenant's
//! requests to it: the pause is written into the same document, so every
//! instance waits, and the reason is what [`RequestBudget::waiting`] says
//! (a run shows it as its task's message).

use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    config::ProviderSettings,
    domain::{TenantId, time},
    ports::{
        BudgetError, LimitReport, RequestBudget,
        store::{Collection, StoreError},
    },
    repository::{Document, Repository},
};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BudgetDocument {
    id: String,
    tenant_id: TenantId,
    kind: String,
    /// The window `granted` counts in (milliseconds since the epoch / window).
    window: i64,
    granted: u32,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::domain::time::option"
    )]
    paused_until: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pause_reason: Option<String>,
}

impl Document for BudgetDocument {
    const COLLECTION: Collection = Collection::Leases;
    fn document_id(&self) -> String {
        self.id.clone()
    }
    fn partition(&self) -> TenantId {
        self.tenant_id
    }
}

/// What this instance holds of one tenant's budget for one provider.
#[derive(Default)]
struct Held {
    window: i64,
    tokens: u32,
    paused_until: Option<DateTime<Utc>>,
    reason: Option<String>,
}

/// What a claim on the shared document came back with.
enum Claim {
    Granted(u32),
    /// The window's allowance is spent: wait for the next one.
    Spent,
    Paused(DateTime<Utc>, String),
}

pub struct StoreBudget {
    repo: Repository,
    per_window: u32,
    window: Duration,
    /// Requests claimed at once (a quarter of a window's allowance).
    block: u32,
    threshold: f64,
    pause: Duration,
    held: Mutex<HashMap<(TenantId, String), Held>>,
}

impl StoreBudget {
    pub fn new(repo: Repository, settings: &ProviderSettings) -> Self {
        let rate = settings.requests_per_second.max(1);
        let per_window = settings.burst.max(1);
        StoreBudget {
            repo,
            per_window,
            window: Duration::from_millis(u64::from(per_window) * 1000 / u64::from(rate)),
            block: (per_window / 4).max(1),
            threshold: settings.limit_threshold,
            pause: settings.limit_pause,
            held: Mutex::new(HashMap::new()),
        }
    }

    fn window_of(&self, at: DateTime<Utc>) -> i64 {
        at.timestamp_millis() / self.window.as_millis().max(1) as i64
    }

    fn window_start(&self, window: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(window * self.window.as_millis() as i64)
            .unwrap_or_else(Utc::now)
    }

    /// [`RequestBudget::acquire`], answering the window the request was
    /// granted in (what a test counts).
    pub async fn acquire_in_window(
        &self,
        tenant: TenantId,
        provider: &str,
    ) -> Result<i64, BudgetError> {
        let key = (tenant, provider.to_owned());
        loop {
            let now = time::now();
            let current = self.window_of(now);
            let wait_until = {
                let mut held = self.held.lock().expect("budget");
                let held = held.entry(key.clone()).or_default();
                match held.paused_until {
                    Some(until) if until > now => Some(until),
                    _ if held.window == current && held.tokens > 0 => {
                        held.tokens -= 1;
                        return Ok(current);
                    }
                    _ => None,
                }
            };
            if let Some(until) = wait_until {
                // In slices: a pause lifted early elsewhere is not seen, but a
                // dropped request (a cancelled run) stops waiting at once.
                let left = (until - now).to_std().unwrap_or_default();
                tokio::time::sleep(left.min(Duration::from_secs(1))).await;
                continue;
            }
            match self.claim(tenant, provider, current).await? {
                Claim::Granted(n) => {
                    let mut held = self.held.lock().expect("budget");
                    let held = held.entry(key.clone()).or_default();
                    held.window = current;
                    held.tokens = n;
                    held.paused_until = None;
                    held.reason = None;
                }
                Claim::Spent => {
                    let next = self.window_start(current + 1);
                    let left = (next - time::now()).to_std().unwrap_or_default();
                    tokio::time::sleep(left).await;
                }
                Claim::Paused(until, reason) => {
                    let mut held = self.held.lock().expect("budget");
                    let held = held.entry(key.clone()).or_default();
                    held.paused_until = Some(until);
                    held.reason = Some(reason);
                }
            }
        }
    }

    /// Takes a block of the current window's allowance from the document.
    async fn claim(
        &self,
        tenant: TenantId,
        provider: &str,
        window: i64,
    ) -> Result<Claim, BudgetError> {
        let id = document_id(provider);
        let granted = AtomicU32::new(0);
        let paused: Mutex<Option<(DateTime<Utc>, String)>> = Mutex::new(None);
        let now = time::now();
        let (per_window, block) = (self.per_window, self.block);
        let updated = self
            .repo
            .update::<BudgetDocument, _>(tenant, &id, |doc| {
                granted.store(0, Ordering::SeqCst);
                *paused.lock().expect("claim") = None;
                if let Some(until) = doc.paused_until.filter(|until| *until > now) {
                    let reason = doc.pause_reason.clone().unwrap_or_default();
                    *paused.lock().expect("claim") = Some((until, reason));
                    return false;
                }
                if doc.window != window {
                    doc.window = window;
                    doc.granted = 0;
                }
                let n = block.min(per_window.saturating_sub(doc.granted));
                if n == 0 {
                    return false;
                }
                doc.granted += n;
                doc.paused_until = None;
                doc.pause_reason = None;
                granted.store(n, Ordering::SeqCst);
                true
            })
            .await;
        match updated {
            Ok(_) => {}
            Err(StoreError::NotFound) => {
                let n = block.min(per_window);
                let doc = BudgetDocument {
                    id,
                    tenant_id: tenant,
                    kind: "request-budget".into(),
                    window,
                    granted: n,
                    paused_until: None,
                    pause_reason: None,
                };
                return match self.repo.create(&doc).await {
                    Ok(_) => Ok(Claim::Granted(n)),
                    // Another instance created it first: claim again.
                    Err(StoreError::AlreadyExists | StoreError::PreconditionFailed) => {
                        Ok(Claim::Spent)
                    }
                    Err(e) => Err(BudgetError(e.to_string())),
                };
            }
            // Lost every race this time: as if spent, try in the next window.
            Err(StoreError::PreconditionFailed) => return Ok(Claim::Spent),
            Err(e) => return Err(BudgetError(e.to_string())),
        }
        if let Some((until, reason)) = paused.into_inner().expect("claim") {
            return Ok(Claim::Paused(until, reason));
        }
        match granted.load(Ordering::SeqCst) {
            0 => Ok(Claim::Spent),
            n => Ok(Claim::Granted(n)),
        }
    }

    /// Pauses the tenant's requests to `provider` until `until`, everywhere.
    async fn pause(&self, tenant: TenantId, provider: &str, until: DateTime<Utc>, reason: String) {
        {
            let mut held = self.held.lock().expect("budget");
            let held = held.entry((tenant, provider.to_owned())).or_default();
            held.paused_until = Some(until);
            held.reason = Some(reason.clone());
            held.tokens = 0;
        }
        let id = document_id(provider);
        let written = self
            .repo
            .update::<BudgetDocument, _>(tenant, &id, |doc| {
                if doc.paused_until.is_some_and(|at| at >= until) {
                    return false;
                }
                doc.paused_until = Some(until);
                doc.pause_reason = Some(reason.clone());
                true
            })
            .await;
        if let Err(e) = written {
            // This instance waits regardless; the others learn at their next claim.
            tracing::warn!(error = %e, provider, "cannot record a provider's pause for other instances");
        }
    }
}

fn document_id(provider: &str) -> String {
    format!("budget-{provider}")
}

#[async_trait]
impl RequestBudget for StoreBudget {
    async fn acquire(&self, tenant: TenantId, provider: &'static str) -> Result<(), BudgetError> {
        self.acquire_in_window(tenant, provider).await.map(|_| ())
    }

    async fn report(&self, tenant: TenantId, provider: &'static str, report: LimitReport) {
        let share = report.share_used();
        let pause = match report.resets_in {
            // A short interval spent: wait for it to start again.
            Some(resets_in) if report.used >= report.limit => resets_in,
            Some(_) => return,
            None if share >= self.threshold => self.pause,
            None => return,
        };
        let until = time::now() + chrono::Duration::from_std(pause).unwrap_or_default();
        let reason = format!(
            "waiting: {provider} reports {} of {} {} used ({:.0} %); requests resume at {}",
            report.used,
            report.limit,
            report.what,
            share * 100.0,
            until.format("%H:%M:%S UTC"),
        );
        tracing::warn!(%tenant, provider, %reason, "provider near its limit; pausing its requests");
        self.pause(tenant, provider, until, reason).await;
    }

    fn waiting(&self, tenant: TenantId, provider: &str) -> Option<String> {
        let held = self.held.lock().expect("budget");
        let held = held.get(&(tenant, provider.to_owned()))?;
        match held.paused_until {
            Some(until) if until > time::now() => held.reason.clone(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
