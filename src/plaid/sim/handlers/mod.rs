//! The Plaid face of the simulator: one pipeline for every Plaid path, then one function per path.
//!
//! The pipeline does what Plaid does before any endpoint logic: content type, JSON body,
//! credentials (body or headers), schema validation; then it applies an armed fault, runs the
//! endpoint under the state lock, records the call for `/sim/calls` and answers with a
//! `request_id`. Endpoint functions are synchronous and must never do I/O while holding the lock
//! (webhooks are handed to a background task).

mod authorization;
mod item;
mod item_webhooks;
mod lists;
mod reads;
pub(super) mod recurring;
mod sandbox;
mod transfer;

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::errors::PlaidError;
use super::faults::{self, FaultKind};
use super::state::{request_id, rfc3339, CallRecord, State};
use super::{validate, Inner, Simulator};

pub use item::DEFAULT_INSTITUTION_ID;
pub use item_webhooks::{fire as fire_item_webhook, send_login_repaired};

/// Every Plaid path the simulator serves.
pub const PLAID_PATHS: &[&str] = &[
    "/transfer/authorization/create",
    "/transfer/authorization/cancel",
    "/transfer/create",
    "/transfer/get",
    "/transfer/cancel",
    "/transfer/event/sync",
    "/link/token/create",
    "/item/get",
    "/accounts/balance/get",
    "/accounts/get",
    "/sandbox/public_token/create",
    "/item/public_token/exchange",
    "/sandbox/item/reset_login",
    "/sandbox/transfer/simulate",
    "/webhook_verification_key/get",
    "/sandbox/transfer/fire_webhook",
    "/sandbox/item/fire_webhook",
    "/transfer/list",
    "/transfer/event/list",
    "/transactions/sync",
    "/investments/holdings/get",
    "/liabilities/get",
    "/identity/get",
    "/auth/get",
    "/transfer/recurring/create",
    "/transfer/recurring/get",
    "/transfer/recurring/cancel",
    "/transfer/recurring/list",
    "/sandbox/transfer/test_clock/create",
    "/sandbox/transfer/test_clock/advance",
    "/sandbox/transfer/test_clock/get",
    "/sandbox/transfer/test_clock/list",
];

/// What an endpoint function sees: the simulator's settings and signer, the locked world, and one
/// clock reading for the whole call.
pub struct Ctx<'a> {
    pub sim: &'a Inner,
    pub state: &'a mut State,
    pub now: OffsetDateTime,
}

type Body = Map<String, Value>;
/// An endpoint: returns the response object without `request_id`.
type Endpoint = fn(&mut Ctx<'_>, &Body) -> Result<Value, PlaidError>;

fn endpoint(path: &str) -> Option<Endpoint> {
    Some(match path {
        "/transfer/authorization/create" => authorization::create,
        "/transfer/authorization/cancel" => authorization::cancel,
        "/transfer/create" => transfer::create,
        "/transfer/get" => transfer::get,
        "/transfer/cancel" => transfer::cancel,
        "/transfer/event/sync" => transfer::event_sync,
        "/link/token/create" => item::link_token_create,
        "/item/get" => item::item_get,
        "/accounts/balance/get" => item::accounts_balance_get,
        "/accounts/get" => item::accounts_get,
        "/item/public_token/exchange" => item::public_token_exchange,
        "/sandbox/public_token/create" => sandbox::public_token_create,
        "/sandbox/item/reset_login" => sandbox::reset_login,
        "/sandbox/transfer/simulate" => sandbox::transfer_simulate,
        "/webhook_verification_key/get" => sandbox::webhook_verification_key_get,
        "/sandbox/transfer/fire_webhook" => sandbox::transfer_fire_webhook,
        "/sandbox/item/fire_webhook" => item_webhooks::item_fire_webhook,
        "/transfer/list" => lists::transfer_list,
        "/transfer/event/list" => lists::event_list,
        "/transactions/sync" => reads::transactions_sync,
        "/investments/holdings/get" => reads::investments_holdings_get,
        "/liabilities/get" => reads::liabilities_get,
        "/identity/get" => reads::identity_get,
        "/auth/get" => reads::auth_get,
        "/transfer/recurring/create" => recurring::create,
        "/transfer/recurring/get" => recurring::get,
        "/transfer/recurring/cancel" => recurring::cancel,
        "/transfer/recurring/list" => recurring::list,
        "/sandbox/transfer/test_clock/create" => recurring::test_clock_create,
        "/sandbox/transfer/test_clock/advance" => recurring::test_clock_advance,
        "/sandbox/transfer/test_clock/get" => recurring::test_clock_get,
        "/sandbox/transfer/test_clock/list" => recurring::test_clock_list,
        _ => return None,
    })
}

pub fn routes() -> Router<Simulator> {
    let mut router = Router::new();
    for &path in PLAID_PATHS {
        router = router.route(
            path,
            post(move |AxumState(sim): AxumState<Simulator>, headers: HeaderMap, body: Bytes| async move {
                // Like Plaid, finish (and log) the call even if the client hangs up: a
                // client timeout must not undo work the server has done.
                tokio::spawn(plaid_call(sim, path, headers, body))
                    .await
                    .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
            }),
        );
    }
    router.fallback(not_found)
}

async fn not_found() -> Response {
    let error = PlaidError::new(StatusCode::NOT_FOUND, "INVALID_REQUEST", "NOT_FOUND", "not found");
    (error.status, Json(error.to_body(&request_id()))).into_response()
}

async fn plaid_call(sim: Simulator, path: &'static str, headers: HeaderMap, raw: Bytes) -> Response {
    let request_id = request_id();
    let at = OffsetDateTime::now_utc();
    let parsed = parse_body(&headers, &raw);
    let fields = parsed.as_ref().map(call_fields).unwrap_or_default();
    let result = match parsed {
        Ok(body) => match check(&sim.inner, path, &headers, &body) {
            Ok(()) => run(&sim.inner, path, &body).await,
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    let (status, body) = match result {
        Ok(mut value) => {
            value["request_id"] = json!(request_id);
            (StatusCode::OK, value)
        }
        Err(error) => (error.status, error.to_body(&request_id)),
    };
    sim.inner.lock().record_call(CallRecord {
        endpoint: path.to_owned(),
        at: rfc3339(at),
        status: status.as_u16(),
        fields,
    });
    (status, Json(body)).into_response()
}

/// Content type and JSON object, as Plaid checks them first.
fn parse_body(headers: &HeaderMap, raw: &[u8]) -> Result<Body, PlaidError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(PlaidError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "INVALID_HEADERS",
            "Content-Type header must be application/json",
        ));
    }
    match serde_json::from_slice::<Value>(raw) {
        Ok(Value::Object(body)) => Ok(body),
        _ => Err(PlaidError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "INVALID_BODY",
            "body could not be parsed as a JSON object",
        )),
    }
}

/// Credentials from the body or the `PLAID-CLIENT-ID`/`PLAID-SECRET` headers, then the schema.
fn check(sim: &Inner, path: &str, headers: &HeaderMap, body: &Body) -> Result<(), PlaidError> {
    let from_header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let client_id = body.get("client_id").and_then(Value::as_str).or_else(|| from_header("plaid-client-id"));
    let secret = body.get("secret").and_then(Value::as_str).or_else(|| from_header("plaid-secret"));
    if client_id != Some(sim.settings.client_id.as_str()) || secret != Some(sim.settings.secret.as_str()) {
        return Err(PlaidError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_INPUT",
            "INVALID_API_KEYS",
            "invalid client_id or secret provided",
        ));
    }
    validate::validate_request(path, body)
}

/// Applies an armed fault around the endpoint. Faults are spent only on calls that passed
/// validation, so a test that arms one knows exactly which call it hits.
async fn run(sim: &Inner, path: &str, body: &Body) -> Result<Value, PlaidError> {
    let fault = faults::take(&mut sim.lock().faults, path);
    match fault {
        None => execute(sim, path, body),
        Some(fault) => match fault.kind {
            FaultKind::Error500 => Err(PlaidError::internal()),
            FaultKind::RateLimit => Err(PlaidError::rate_limited()),
            FaultKind::Delay => {
                tokio::time::sleep(fault.delay).await;
                execute(sim, path, body)
            }
            FaultKind::Error500AfterCommit => {
                // The work stays done; only the answer is lost, like Plaid's "500 may still
                // have created the transfer".
                let _ = execute(sim, path, body);
                Err(PlaidError::internal())
            }
            FaultKind::DelayAfterCommit => {
                let result = execute(sim, path, body);
                tokio::time::sleep(fault.delay).await;
                result
            }
        },
    }
}

fn execute(sim: &Inner, path: &str, body: &Body) -> Result<Value, PlaidError> {
    let Some(endpoint) = endpoint(path) else {
        return Err(PlaidError::internal());
    };
    let mut state = sim.lock();
    let mut ctx = Ctx { sim, state: &mut state, now: OffsetDateTime::now_utc() };
    endpoint(&mut ctx, body)
}

/// The request fields `/sim/calls` may show. Never the secret or the access token itself.
fn call_fields(body: &Body) -> Map<String, Value> {
    let mut fields = Map::new();
    for key in ["authorization_id", "transfer_id", "idempotency_key", "account_id", "amount", "recurring_transfer_id"] {
        if let Some(value) = body.get(key) {
            fields.insert(key.to_owned(), value.clone());
        }
    }
    fields.insert("access_token_present".to_owned(), Value::Bool(body.contains_key("access_token")));
    fields
}

/// A required string field (presence is already checked by the schema).
pub fn str_field<'a>(body: &'a Body, name: &str) -> Result<&'a str, PlaidError> {
    body.get(name).and_then(Value::as_str).ok_or_else(|| PlaidError::missing_fields(&[name]))
}

/// An optional string field; null counts as absent.
pub fn opt_str<'a>(body: &'a Body, name: &str) -> Option<&'a str> {
    body.get(name).and_then(Value::as_str)
}
