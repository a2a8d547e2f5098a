//! Request and response shapes, following Plaid's 2020-09-14 API (see fixtures/plaid-openapi-subset.yml).
//!
//! Requests carry only the fields we send (Plaid rejects unknown fields). Responses read only the
//! fields we use; enums Plaid may extend are open (`Unknown`) so a new value never breaks a call.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approved,
    Declined,
    UserActionRequired,
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuthorizationUser<'a> {
    pub legal_name: &'a str,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuthorizationCreateRequest<'a> {
    pub access_token: &'a str,
    pub account_id: &'a str,
    #[serde(rename = "type")]
    pub transfer_type: &'a str,
    pub network: &'a str,
    pub amount: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ach_class: Option<&'a str>,
    pub user: AuthorizationUser<'a>,
    pub idempotency_key: &'a str,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DecisionRationale {
    pub code: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Authorization {
    pub id: String,
    /// RFC 3339; the authorization window is counted from here.
    pub created: String,
    pub decision: Decision,
    pub decision_rationale: Option<DecisionRationale>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthorizationCreateResponse {
    pub authorization: Authorization,
    pub request_id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuthorizationCancelRequest<'a> {
    pub authorization_id: &'a str,
}

#[derive(Debug, Clone, Serialize)]
pub struct TransferCreateRequest<'a> {
    pub access_token: &'a str,
    pub account_id: &'a str,
    pub authorization_id: &'a str,
    pub description: &'a str,
}

#[derive(Debug, Clone, Serialize)]
pub struct TransferGetRequest<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_id: Option<&'a str>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Transfer {
    pub id: String,
    pub authorization_id: String,
    pub status: String,
    pub amount: String,
    pub created: String,
    /// Set when a recurring transfer originated it.
    #[serde(default)]
    pub recurring_transfer_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TransferResponse {
    pub transfer: Transfer,
    pub request_id: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RequestIdOnly {
    pub request_id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct LinkTokenUser<'a> {
    pub client_user_id: &'a str,
}

/// `/link/token/create` in update mode: the item's access token and no products.
#[derive(Debug, Clone, Serialize)]
pub struct LinkTokenUpdateRequest<'a> {
    pub client_name: &'a str,
    pub language: &'a str,
    pub country_codes: [&'a str; 1],
    pub user: LinkTokenUser<'a>,
    pub access_token: &'a str,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LinkTokenResponse {
    pub link_token: String,
    pub expiration: String,
    pub request_id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AccessTokenRequest<'a> {
    pub access_token: &'a str,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ItemSummary {
    pub item_id: String,
    pub institution_id: Option<String>,
    #[serde(default)]
    pub institution_name: Option<String>,
    pub error: Option<super::PlaidApiError>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ItemGetResponse {
    pub item: ItemSummary,
    pub request_id: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Balances {
    /// JSON numbers on Plaid's wire; converted to `Money` without float arithmetic.
    pub available: Option<serde_json::Number>,
    pub current: Option<serde_json::Number>,
    pub iso_currency_code: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Account {
    pub account_id: String,
    pub name: String,
    pub mask: Option<String>,
    pub subtype: Option<String>,
    pub balances: Balances,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AccountsResponse {
    pub accounts: Vec<Account>,
    pub item: ItemSummary,
    pub request_id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SandboxPublicTokenRequest<'a> {
    pub institution_id: &'a str,
    pub initial_products: [&'a str; 1],
}

#[derive(Debug, Clone, Deserialize)]
pub struct SandboxPublicTokenResponse {
    pub public_token: String,
    pub request_id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PublicTokenExchangeRequest<'a> {
    pub public_token: &'a str,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PublicTokenExchangeResponse {
    pub access_token: String,
    pub item_id: String,
    pub request_id: String,
}

/// `/transfer/event/sync`: events after `after_id`, oldest first, `count` (1–500) at a time.
#[derive(Debug, Clone, Serialize)]
pub struct TransferEventSyncRequest {
    pub after_id: i64,
    pub count: u32,
}

/// Why a transfer failed or was returned (`failure_code` is the ACH return code, e.g. `R01`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TransferFailure {
    #[serde(default)]
    pub failure_code: Option<String>,
    #[serde(default)]
    pub ach_return_code: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

impl TransferFailure {
    /// The return code, from the current field or the deprecated one.
    pub fn code(&self) -> Option<&str> {
        self.failure_code.as_deref().or(self.ach_return_code.as_deref())
    }
}

/// One transfer event. Only what Countersign reads; every other field (and every event type Plaid
/// adds) passes without complaint.
#[derive(Debug, Clone, Deserialize)]
pub struct TransferEvent {
    pub event_id: i64,
    pub timestamp: String,
    pub event_type: String,
    /// Empty for sweep events.
    #[serde(default)]
    pub transfer_id: String,
    #[serde(default)]
    pub failure_reason: Option<TransferFailure>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TransferEventSyncResponse {
    pub transfer_events: Vec<TransferEvent>,
    pub has_more: bool,
    pub request_id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct WebhookKeyRequest<'a> {
    pub key_id: &'a str,
}

/// Plaid's public webhook key, a JWK (`/webhook_verification_key/get`).
#[derive(Debug, Clone, Deserialize)]
pub struct WebhookKey {
    pub kid: String,
    pub alg: String,
    pub crv: String,
    pub kty: String,
    pub x: String,
    pub y: String,
    /// Set once Plaid rotated the key out: deliveries signed with it are refused.
    #[serde(default)]
    pub expired_at: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WebhookKeyResponse {
    pub key: WebhookKey,
    pub request_id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TransferCancelRequest<'a> {
    pub transfer_id: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// An authorization as the 2020-09-14_1.697.4 spec shapes it, and the same with what
    /// plaid-python 46 / npm plaid 47 add (requested_amount, guarantee_details, newer codes).
    fn authorization(newer: bool) -> serde_json::Value {
        let mut body = json!({"authorization": {
            "id": "a1", "created": "2026-12-02T10:00:00Z", "decision": "approved",
            "decision_rationale": null, "guarantee_decision": null, "guarantee_decision_rationale": null,
            "payment_risk": null,
            "proposed_transfer": {"type": "debit", "amount": "10.00", "network": "ach"},
        }, "request_id": "r"});
        if newer {
            body["authorization"]["proposed_transfer"]["requested_amount"] = json!("10.00");
            body["authorization"]["guarantee_details"] = json!({"outcome": "GUARANTEED", "schedule": []});
            body["authorization"]["decision"] = json!("declined");
            body["authorization"]["decision_rationale"] = json!({"code": "FRAUD", "description": "newer code"});
        }
        body
    }

    #[test]
    fn authorization_responses_of_the_old_and_the_current_spec_both_decode() {
        let old: AuthorizationCreateResponse = serde_json::from_value(authorization(false)).unwrap();
        assert_eq!(old.authorization.decision, Decision::Approved);
        let newer: AuthorizationCreateResponse = serde_json::from_value(authorization(true)).unwrap();
        assert_eq!(newer.authorization.decision, Decision::Declined);
        assert_eq!(newer.authorization.decision_rationale.unwrap().code, "FRAUD");
    }

    #[test]
    fn a_decision_plaid_adds_later_decodes_as_unknown() {
        let mut body = authorization(true);
        body["authorization"]["decision"] = json!("pending_review");
        let decoded: AuthorizationCreateResponse = serde_json::from_value(body).unwrap();
        assert_eq!(decoded.authorization.decision, Decision::Unknown);
    }

    #[test]
    fn event_pages_with_newer_fields_and_event_types_decode() {
        let page = json!({"transfer_events": [
            {"event_id": 1, "timestamp": "2026-12-02T10:00:00Z", "event_type": "pending", "transfer_id": "t"},
            {"event_id": 2, "timestamp": "2026-12-02T10:00:01Z", "event_type": "guarantee_reimbursed",
             "transfer_id": "t", "event_amount": "-10.00", "failure_reason": null, "intent_id": null},
        ], "has_more": false, "request_id": "r"});
        let decoded: TransferEventSyncResponse = serde_json::from_value(page).unwrap();
        assert_eq!(decoded.transfer_events[1].event_type, "guarantee_reimbursed");
    }

    #[test]
    fn a_transfer_with_guarantee_details_decodes() {
        let body = json!({"transfer": {"id": "t", "authorization_id": "a", "status": "settled",
            "amount": "10.00", "created": "2026-12-02T10:00:00Z",
            "guarantee_details": {"guaranteed_amount": "10.00", "schedule": []}}, "request_id": "r"});
        let decoded: TransferResponse = serde_json::from_value(body).unwrap();
        assert_eq!(decoded.transfer.status, "settled");
    }
}

/// `/transfer/recurring/create`: a schedule of transfers Plaid originates itself, each decided
/// like an authorization. `idempotency_key` is required here (≤ 50 characters).
#[derive(Debug, Clone, Serialize)]
pub struct RecurringCreateRequest<'a> {
    pub access_token: &'a str,
    pub idempotency_key: &'a str,
    pub account_id: &'a str,
    #[serde(rename = "type")]
    pub transfer_type: &'a str,
    pub network: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ach_class: Option<&'a str>,
    pub amount: String,
    pub user: AuthorizationUser<'a>,
    pub description: &'a str,
    pub schedule: serde_json::Value,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RecurringTransfer {
    pub recurring_transfer_id: String,
    /// `active`, `cancelled` or `expired` (open: kept as text).
    pub status: String,
    #[serde(default)]
    pub transfer_ids: Vec<String>,
    #[serde(default)]
    pub next_origination_date: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RecurringCreateResponse {
    pub decision: Decision,
    #[serde(default)]
    pub decision_rationale: Option<DecisionRationale>,
    #[serde(default)]
    pub recurring_transfer: Option<RecurringTransfer>,
    pub request_id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecurringIdRequest<'a> {
    pub recurring_transfer_id: &'a str,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RecurringGetResponse {
    pub recurring_transfer: RecurringTransfer,
    pub request_id: String,
}
