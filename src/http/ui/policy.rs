//! `/ui/policy` (compliance): the active and shadow policies, and the shadow policy's recorded
//! disagreements. Read only.

use super::format::date_time;
use super::session::UiSession;
use super::{render, Chrome, UiError};
use crate::domain::Tier;
use crate::error::Error;
use crate::service::policy::shadow_report;
use crate::service::Context;
use crate::store::policy::ShadowDifference;
use askama::Template;
use axum::extract::State;
use axum::response::Response;

pub struct Row {
    at: String,
    request: String,
    active: String,
    shadow: String,
    reasons: String,
}

fn outcome(tier: i64, approvals: i64, denied: &Option<String>) -> String {
    match denied {
        Some(reason) => format!("denied: {reason}"),
        None => format!("tier {tier}, {approvals} approval(s)"),
    }
}

impl From<&ShadowDifference> for Row {
    fn from(d: &ShadowDifference) -> Self {
        Row {
            at: date_time(d.created_at),
            request: d.request_id.clone().unwrap_or_else(|| "(denied, not stored)".into()),
            active: outcome(d.active_tier, d.active_approvals, &d.active_denied),
            shadow: outcome(d.shadow_tier, d.shadow_approvals, &d.shadow_denied),
            reasons: d.shadow_reasons.join("; "),
        }
    }
}

#[derive(Template)]
#[template(path = "policy.html")]
struct PolicyPage {
    chrome: Chrome,
    active: String,
    shadow: String,
    /// (product, Plaid endpoint, tier, what the tier means)
    reads: Vec<(&'static str, &'static str, i64, &'static str)>,
    reads_per_minute: u32,
    rows: Vec<Row>,
}

fn read_tier_meaning(tier: Tier) -> &'static str {
    match tier {
        Tier::Auto => "answered at once, audited",
        Tier::Notify => "answered at once, audited, listed on Sensitive reads; reason required",
        _ => "an approver approves before Plaid is called",
    }
}

pub async fn page(State(ctx): State<Context>, session: UiSession) -> Result<Response, UiError> {
    if !session.who.approver.has_role("compliance") {
        return Err(Error::forbidden("not_compliance", "the policy page is for compliance").into());
    }
    let report = shadow_report(&ctx).await?;
    render(&PolicyPage {
        chrome: session.chrome("Risk policy", None),
        active: report.active,
        shadow: report.shadow.unwrap_or_else(|| "none (COUNTERSIGN_POLICY_SHADOW_FILE is not set)".into()),
        reads: report
            .reads
            .describe()
            .into_iter()
            .map(|(product, tier)| (product.as_str(), product.endpoint(), tier.number(), read_tier_meaning(tier)))
            .collect(),
        reads_per_minute: report.reads.per_agent_per_minute,
        rows: report.differences.iter().map(Row::from).collect(),
    })
}
