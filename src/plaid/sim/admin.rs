//! The non-Plaid `/sim/*` admin paths (listed in the parent module's docs).
//!
//! They let tests and demos look at calls, arm faults, set balances and repair items. They need no
//! credentials and must never reveal secrets or access tokens.

use axum::extract::{Query, State as AxumState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::faults::{Fault, FaultRequest};
use super::handlers::{fire_item_webhook, send_login_repaired, PLAID_PATHS};
use super::money::{format_cents, parse_cents};
use super::Simulator;

pub fn routes() -> Router<Simulator> {
    Router::new()
        .route("/sim", get(index))
        .route("/sim/paths", get(paths))
        .route("/sim/calls", get(calls))
        .route("/sim/faults", get(armed_faults).post(add_fault).delete(clear_faults))
        .route("/sim/accounts/balance", post(set_balance))
        .route("/sim/items/repair", post(repair_item))
        .route("/sim/items/fire_webhook", post(fire_webhook))
        .route("/sim/recurring/advance", post(advance_recurring))
}

/// `GET /sim`: the controls, for someone who has only the binary.
const INDEX: &str = "\
Plaid simulator test controls (no credentials; Plaid has none of these):
GET    /sim/paths   the Plaid paths served
GET    /sim/calls[?endpoint=/transfer/create]  calls answered so far, oldest first (never secrets or tokens)
POST   /sim/faults {endpoint, kind, times=1, delay_ms=0}  arm a fault for the next calls of one Plaid path;
       kind: error_500 | error_500_after_commit | rate_limit | delay | delay_after_commit
GET    /sim/faults   faults still armed;   DELETE /sim/faults   disarm all
POST   /sim/accounts/balance {account_id, available}  set an account's available balance (\"12.34\")
POST   /sim/items/repair {access_token}  leave ITEM_LOGIN_REQUIRED; sends ITEM/LOGIN_REPAIRED
POST   /sim/items/fire_webhook {access_token, webhook_code}  like /sandbox/item/fire_webhook, also PENDING_EXPIRATION
POST   /sim/recurring/advance {to_date}  moves the date recurring transfers without a test clock have reached
       (\"2027-03-01\"; never back) and originates every transfer now due, as a test clock's advance does
";

async fn index() -> &'static str {
    INDEX
}

fn admin_error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

/// The Plaid paths this simulator serves (the official-client tests drive each of them).
async fn paths() -> Response {
    Json(PLAID_PATHS).into_response()
}

#[derive(Deserialize)]
struct CallsQuery {
    endpoint: Option<String>,
}

async fn calls(AxumState(sim): AxumState<Simulator>, Query(q): Query<CallsQuery>) -> Response {
    let state = sim.inner.lock();
    let calls: Vec<_> = state.calls.iter().filter(|c| q.endpoint.as_deref().is_none_or(|e| c.endpoint == e)).collect();
    Json(calls).into_response()
}

async fn add_fault(AxumState(sim): AxumState<Simulator>, Json(request): Json<FaultRequest>) -> Response {
    if !PLAID_PATHS.contains(&request.endpoint.as_str()) {
        return admin_error(StatusCode::BAD_REQUEST, format!("{} is not a simulated Plaid path", request.endpoint));
    }
    sim.inner.lock().faults.push(Fault::from(request));
    StatusCode::NO_CONTENT.into_response()
}

/// Faults still armed, per endpoint: a test learns that a call has arrived (and is, say, being
/// delayed) when its fault is no longer armed.
async fn armed_faults(AxumState(sim): AxumState<Simulator>) -> Response {
    let state = sim.inner.lock();
    let armed: Vec<_> =
        state.faults.iter().map(|f| json!({"endpoint": f.endpoint, "remaining": f.remaining})).collect();
    Json(armed).into_response()
}

async fn clear_faults(AxumState(sim): AxumState<Simulator>) -> Response {
    sim.inner.lock().faults.clear();
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BalanceRequest {
    account_id: String,
    available: String,
}

async fn set_balance(AxumState(sim): AxumState<Simulator>, Json(request): Json<BalanceRequest>) -> Response {
    let Some(cents) = parse_cents(&request.available) else {
        return admin_error(StatusCode::BAD_REQUEST, "available must be a decimal string like \"10.00\"");
    };
    let mut state = sim.inner.lock();
    let Some(account) = state.accounts.get_mut(&request.account_id) else {
        return admin_error(StatusCode::NOT_FOUND, "no such account_id");
    };
    account.available_cents = cents;
    Json(json!({"account_id": account.account_id, "available": format_cents(cents)})).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RepairRequest {
    access_token: String,
}

async fn repair_item(AxumState(sim): AxumState<Simulator>, Json(request): Json<RepairRequest>) -> Response {
    let mut state = sim.inner.lock();
    let Some(item) = state.items.get_mut(&request.access_token) else {
        return admin_error(StatusCode::NOT_FOUND, "no item for this access_token");
    };
    let was_broken = std::mem::replace(&mut item.login_required, false);
    let item = item.clone();
    if was_broken {
        send_login_repaired(&sim.inner, &item);
    }
    Json(json!({"repaired": was_broken})).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FireWebhookRequest {
    access_token: String,
    webhook_code: String,
}

/// Like `/sandbox/item/fire_webhook`, but also for PENDING_EXPIRATION, which Plaid's endpoint does
/// not take (its enum lacks it) and which Plaid sends only for UK/EU items.
async fn fire_webhook(AxumState(sim): AxumState<Simulator>, Json(request): Json<FireWebhookRequest>) -> Response {
    let mut state = sim.inner.lock();
    let Some(item) = state.items.get_mut(&request.access_token) else {
        return admin_error(StatusCode::NOT_FOUND, "no item for this access_token");
    };
    match fire_item_webhook(&sim.inner, item, &request.webhook_code, time::OffsetDateTime::now_utc()) {
        Ok(()) => Json(json!({"webhook_fired": true})).into_response(),
        Err(e) => admin_error(StatusCode::BAD_REQUEST, e.message),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvanceRequest {
    to_date: String,
}

/// `POST /sim/recurring/advance`: the clock of recurring transfers created without a test clock.
async fn advance_recurring(AxumState(sim): AxumState<Simulator>, Json(request): Json<AdvanceRequest>) -> Response {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let Ok(to_date) = time::Date::parse(&request.to_date, &format) else {
        return admin_error(StatusCode::BAD_REQUEST, "to_date must be a date as YYYY-MM-DD");
    };
    let now = time::OffsetDateTime::now_utc();
    let mut state = sim.inner.lock();
    if to_date < state.recurring_date.unwrap_or(now.date()) {
        return admin_error(StatusCode::CONFLICT, "to_date is before the date recurring transfers have reached");
    }
    state.recurring_date = Some(to_date);
    let mut ctx = super::handlers::Ctx { sim: &sim.inner, state: &mut state, now };
    super::handlers::recurring::originate_due(&mut ctx);
    let originated: usize = state.recurring.values().map(|r| r.transfer_ids.len()).sum();
    Json(json!({"recurring_date": to_date.to_string(), "transfers_originated": originated})).into_response()
}
