//! The tiered Plaid read gateway (issue 17) over HTTP against the simulator: endpoints, grants,
//! tiers, masking, audit, errors and limits.

mod access;
mod approval;
mod errors;
mod masking;
mod policy;
mod reading;

use crate::helpers::TestApp;
use countersign::domain::reads::ReadProduct;
use countersign::service::{gateway, registry};
use serde_json::{json, Value};

/// A new agent granted `products` (names), `unmasked` among them; returns its API key.
pub async fn reader(app: &TestApp, name: &str, products: &[&str], unmasked: &[&str]) -> String {
    let parse = |names: &[&str]| -> Vec<ReadProduct> { names.iter().filter_map(|n| ReadProduct::parse(n)).collect() };
    let agent = registry::add_agent(&app.ctx.store, name, "owner", None).await.expect("agent");
    gateway::grant_products(&app.ctx.store, &agent.id, &parse(products), &parse(unmasked)).await.expect("grant");
    agent.api_key
}

/// `POST /v1/plaid{path}` with the item and `extra` fields.
pub async fn read(app: &TestApp, key: &str, path: &str, extra: Value) -> reqwest::Response {
    let mut body = json!({"item_id": app.item_id.to_string()});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    app.client.post(format!("{}/v1/plaid{path}", app.address)).bearer_auth(key).json(&body).send().await.expect("sent")
}

/// Audit records of gateway reads, in order.
pub async fn read_records(app: &TestApp) -> Vec<countersign::store::audit::AuditRow> {
    app.audit_rows().await.into_iter().filter(|r| r.fields.event_type.starts_with("plaid.read")).collect()
}

/// Every Plaid read path with a reason (tier-1 reads need one).
pub const ALL_PATHS: [&str; 7] = [
    "/accounts/get",
    "/accounts/balance/get",
    "/transactions/sync",
    "/investments/holdings/get",
    "/liabilities/get",
    "/identity/get",
    "/auth/get",
];

pub const ALL_PRODUCTS: [&str; 7] =
    ["accounts", "balance", "transactions", "investments", "liabilities", "identity", "auth"];
