//! The risk policy at run time: the active and shadow policies this process enforces, assessing a
//! proposal against them inside its transaction, and switching to a new file (SIGHUP or
//! `countersign policy reload`, which every replica hears through the database).
//!
//! A reload never leaves a process without a policy: an invalid file keeps the old one, says why
//! in the log and the audit trail, and changes nothing.

use super::{now_ms, Context};
use crate::audit::{self, AuditFields};
use crate::config::read_policy_file;
use crate::domain::{Assessment, Facts, Policy, TransferIntent};
use crate::error::Result;
use crate::store::policy::{self as rows, ShadowDifference};
use crate::store::{Store, Tx};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

/// The policies this process enforces (active) and compares (shadow). Cheap to read.
#[derive(Debug)]
pub struct Policies {
    active: RwLock<Arc<Policy>>,
    shadow: RwLock<Option<Arc<Policy>>>,
    /// Where the active and shadow policies are re-read from on reload (`None`: the built-in).
    pub file: Option<PathBuf>,
    pub shadow_file: Option<PathBuf>,
    /// The newest `policy_reload_requests` row this process has acted on.
    seen_reload: AtomicI64,
}

impl Policies {
    pub fn new(active: Policy, shadow: Option<Policy>, file: Option<PathBuf>, shadow_file: Option<PathBuf>) -> Self {
        Policies {
            active: RwLock::new(Arc::new(active)),
            shadow: RwLock::new(shadow.map(Arc::new)),
            file,
            shadow_file,
            seen_reload: AtomicI64::new(-1),
        }
    }

    pub fn active(&self) -> Arc<Policy> {
        self.active.read().map_or_else(|poisoned| poisoned.into_inner().clone(), |p| p.clone())
    }

    pub fn shadow(&self) -> Option<Arc<Policy>> {
        self.shadow.read().map_or_else(|poisoned| poisoned.into_inner().clone(), |p| p.clone())
    }

    fn set(&self, active: Policy, shadow: Option<Policy>) {
        if let Ok(mut slot) = self.active.write() {
            *slot = Arc::new(active);
        }
        if let Ok(mut slot) = self.shadow.write() {
            *slot = shadow.map(Arc::new);
        }
    }
}

/// A proposal's assessment under the active policy, and the shadow policy's disagreement.
pub struct Assessed {
    pub assessment: Assessment,
    pub policy: Arc<Policy>,
    pub shadow: Option<ShadowDifference>,
}

/// Assesses `intent` inside the transaction that will insert it. The windows are read after
/// locking this agent's and this account's windows (PostgreSQL; SQLite's one writer needs no
/// lock), so concurrent proposals on any replica each see the ones committed before them; with no
/// window in the active or shadow policy nothing is locked.
pub async fn assess_in(tx: &mut Tx, ctx: &Context, intent: &TransferIntent, now: i64) -> Result<Assessed> {
    let policy = ctx.policies.active();
    let shadow = ctx.policies.shadow();
    let (agent, item, account) = (intent.agent_id.as_str(), intent.item_id.as_str(), intent.account_id.as_str());
    let lookback = lookback_secs(&policy, shadow.as_deref());
    // Windows are the one fact other proposals write. A policy without them decides each proposal
    // on its own, so its proposals need not wait for each other: one agent's or one account's
    // proposals would otherwise run one at a time, each holding the lock through its commit.
    if lookback > 0 {
        rows::lock_windows(tx, agent, item, account).await?;
    }
    let facts = rows::proposal_facts(tx, agent, item, account, now - lookback * 1000).await?;
    Ok(assessed(policy, shadow, intent, facts, now))
}

/// Assesses `intent` outside any transaction when neither the active nor the shadow policy has
/// a window (nothing it reads is written by other proposals, so no lock and no writer is needed);
/// None when one has: the proposal is then assessed inside its transaction ([`assess_in`]).
pub async fn assess_outside(ctx: &Context, intent: &TransferIntent, now: i64) -> Result<Option<Assessed>> {
    let policy = ctx.policies.active();
    let shadow = ctx.policies.shadow();
    if lookback_secs(&policy, shadow.as_deref()) > 0 {
        return Ok(None);
    }
    let (agent, item, account) = (intent.agent_id.as_str(), intent.item_id.as_str(), intent.account_id.as_str());
    let facts = rows::proposal_facts_outside(ctx.store.reader(), agent, item, account, now).await?;
    Ok(Some(assessed(policy, shadow, intent, facts, now)))
}

/// How far back either policy's windows look, in seconds (0: no window).
fn lookback_secs(policy: &Policy, shadow: Option<&Policy>) -> i64 {
    policy.lookback_secs().max(shadow.map_or(0, Policy::lookback_secs))
}

fn assessed(
    policy: Arc<Policy>,
    shadow: Option<Arc<Policy>>,
    intent: &TransferIntent,
    facts: rows::ProposalFacts,
    now: i64,
) -> Assessed {
    let (agent, item, account) = (intent.agent_id.as_str(), intent.item_id.as_str(), intent.account_id.as_str());
    let rows::ProposalFacts { recent, paid_before, account_mask } = facts;
    let label = account_label(intent, account_mask);
    let facts = Facts {
        direction: intent.transfer_type,
        network: intent.network,
        ach_class: intent.ach_class,
        amount: intent.amount,
        agent_id: agent,
        item_id: item,
        account_id: account,
        account_label: &label,
        submitted_before: paid_before,
        at_ms: now,
        recent: &recent,
    };
    let assessment = policy.assess(&facts);
    let shadow = shadow.map(|shadow| (shadow.assess(&facts), shadow)).and_then(|(candidate, shadow)| {
        differs(&assessment, &candidate).then(|| ShadowDifference {
            request_id: None,
            agent_id: agent.to_owned(),
            active_version: policy.version.clone(),
            shadow_version: shadow.version.clone(),
            active_tier: assessment.tier.number(),
            shadow_tier: candidate.tier.number(),
            active_approvals: i64::from(assessment.approvals_required),
            shadow_approvals: i64::from(candidate.approvals_required),
            active_denied: assessment.denied.clone(),
            shadow_denied: candidate.denied.clone(),
            shadow_reasons: candidate.reasons.clone(),
            created_at: now,
        })
    });
    Assessed { assessment, policy, shadow }
}

/// What people would notice: a different tier, quorum, step-up or refusal.
fn differs(active: &Assessment, shadow: &Assessment) -> bool {
    active.tier != shadow.tier
        || active.approvals_required != shadow.approvals_required
        || active.step_up != shadow.step_up
        || active.denied.is_some() != shadow.denied.is_some()
        || active.approver_groups != shadow.approver_groups
}

/// `••0000`: the account's mask when Plaid gave one, else the end of its id.
fn account_label(intent: &TransferIntent, mask: Option<String>) -> String {
    let account = intent.account_id.as_str();
    let tail: String = account.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    format!("••{}", mask.unwrap_or(tail))
}

/// How a reload ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reloaded {
    Switched {
        from: String,
        to: String,
    },
    Unchanged(String),
    /// No file is configured: the built-in policy stays.
    NoFile,
    /// The file is invalid or unreadable; the old policy stays.
    Refused(String),
}

/// Re-reads the policy files and switches to them if they are valid, auditing the outcome.
/// `cause` says who asked (`sighup`, `cli`).
pub async fn reload(ctx: &Context, cause: &str) -> Result<Reloaded> {
    let Some(file) = ctx.policies.file.clone() else { return Ok(Reloaded::NoFile) };
    let shadow = ctx.policies.shadow_file.as_deref().map(read_policy_file).transpose();
    let outcome = match (read_policy_file(&file), shadow) {
        (Err(why), _) | (_, Err(why)) => Reloaded::Refused(why),
        (Ok(new), Ok(shadow)) => {
            let old = ctx.policies.active();
            let to = new.describe();
            let old_shadow = ctx.policies.shadow().map(|s| s.version.clone());
            let same = new.version == old.version && shadow.as_ref().map(|s| s.version.clone()) == old_shadow;
            ctx.policies.set(new, shadow);
            if same {
                Reloaded::Unchanged(to)
            } else {
                Reloaded::Switched { from: old.describe(), to }
            }
        }
    };
    let mut fields = AuditFields {
        occurred_at: now_ms(),
        event_type: "policy.reloaded".into(),
        outcome: "success".into(),
        // The policy in force after the reload (the old one when it was refused).
        policy_version: Some(ctx.policies.active().version.clone()),
        action_type: Some("write".into()),
        ..AuditFields::default()
    };
    match &outcome {
        Reloaded::Switched { from, to } => tracing::info!(from, to, cause, "policy reloaded"),
        Reloaded::Unchanged(version) => tracing::info!(version, cause, "policy reload: unchanged"),
        Reloaded::NoFile => {}
        Reloaded::Refused(why) => {
            tracing::error!(why, cause, "policy reload refused: the old policy stays");
            fields.event_type = "policy.reload_refused".into();
            fields.outcome = "error".into();
            fields.error_code = Some("invalid_policy".into());
        }
    }
    let mut tx = ctx.store.begin().await?;
    audit::append(&mut tx, fields).await?;
    ctx.store.commit(tx).await?;
    Ok(outcome)
}

/// Acts on `countersign policy reload` requests newer than the last one this process saw. The
/// first call only remembers where the queue stands (a fresh process has just read its file).
pub async fn poll_reload_requests(ctx: &Context) -> Result<()> {
    let last = rows::last_reload_request(ctx.store.reader()).await?;
    let seen = ctx.policies.seen_reload.swap(last, Ordering::SeqCst);
    if seen >= 0 && last > seen {
        reload(ctx, "reload_request").await?;
    }
    Ok(())
}

/// Records a reload request for every replica to act on (the CLI's `policy reload`).
pub async fn request_reload(store: &Store, by: &str) -> Result<()> {
    let mut tx = store.begin().await?;
    rows::request_reload(&mut tx, by, now_ms()).await?;
    audit::append(
        &mut tx,
        AuditFields {
            occurred_at: now_ms(),
            event_type: "policy.reload_requested".into(),
            outcome: "success".into(),
            action_type: Some("write".into()),
            ..AuditFields::default()
        },
    )
    .await?;
    store.commit(tx).await?;
    Ok(())
}

/// Reloads on SIGHUP (this process) and on `countersign policy reload` (every replica, polled
/// every `interval`) until `shutdown` fires.
pub async fn run(ctx: Context, interval: std::time::Duration, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    #[cfg(unix)]
    let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        #[cfg(unix)]
        let hangup = async {
            match hangups.as_mut() {
                Some(signal) => signal.recv().await,
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let hangup = std::future::pending::<Option<()>>();
        let outcome = tokio::select! {
            _ = shutdown.changed() => return,
            _ = hangup => reload(&ctx, "sighup").await.map(|_| ()),
            _ = ticker.tick() => poll_reload_requests(&ctx).await,
        };
        ctx.metrics.background_pass("policy_reload", outcome.is_ok());
        if let Err(error) = outcome {
            tracing::error!(error = %error, "policy reload pass failed");
        }
    }
}

/// What compliance sees: the policies in force here and the shadow's recent disagreements.
pub struct ShadowReport {
    pub active: String,
    /// The active policy's read tiers and rate.
    pub reads: crate::domain::reads::ReadsPolicy,
    pub shadow: Option<String>,
    pub differences: Vec<ShadowDifference>,
}

pub async fn shadow_report(ctx: &Context) -> Result<ShadowReport> {
    Ok(ShadowReport {
        active: ctx.policies.active().describe(),
        reads: ctx.policies.active().reads.clone(),
        shadow: ctx.policies.shadow().map(|s| s.describe()),
        differences: rows::shadow_differences(ctx.store.reader(), 200).await?,
    })
}
