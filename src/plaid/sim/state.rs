//! The simulator's in-memory world: items, accounts, authorizations, transfers and events.
//!
//! Everything lives in one process behind one mutex, because several service replicas may share a
//! standalone simulator and must see the same Plaid. This module holds data and small lookups only;
//! it must never decide anything Plaid would decide (that is the handlers' job) and never do I/O.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};

use rand::distributions::{Alphanumeric, DistString};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use super::errors::PlaidError;
use super::faults::Fault;

/// A linked Item (one login at one institution).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Item {
    pub item_id: String,
    pub institution_id: String,
    pub webhook: Option<String>,
    pub products: Vec<String>,
    pub created_at: OffsetDateTime,
    /// Set by /sandbox/item/reset_login: the Item is in ITEM_LOGIN_REQUIRED.
    pub login_required: bool,
    pub account_ids: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Account {
    pub account_id: String,
    pub item_id: String,
    pub name: String,
    pub official_name: Option<String>,
    pub mask: String,
    pub subtype: String,
    pub available_cents: i64,
    pub current_cents: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decision {
    Approved,
    Declined,
    UserActionRequired,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approved => "approved",
            Decision::Declined => "declined",
            Decision::UserActionRequired => "user_action_required",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Authorization {
    pub id: String,
    pub created: OffsetDateTime,
    pub item_id: String,
    pub account_id: String,
    pub transfer_type: String,
    pub network: String,
    pub ach_class: Option<String>,
    pub amount_cents: i64,
    pub iso_currency_code: String,
    /// `TransferUserInResponse` as sent back in `proposed_transfer.user` and `transfer.user`.
    pub user: Value,
    pub wire_details: Value,
    pub decision: Decision,
    /// `(code, description)` of `decision_rationale`; `None` serialises as null.
    pub rationale: Option<(Cow<'static, str>, String)>,
    pub cancelled: bool,
    pub transfer_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Transfer {
    pub id: String,
    pub authorization_id: String,
    pub account_id: String,
    pub transfer_type: String,
    pub network: String,
    pub ach_class: Option<String>,
    pub amount_cents: i64,
    pub description: String,
    pub created: OffsetDateTime,
    pub status: String,
    pub failure_reason: Value,
    pub metadata: Value,
    pub user: Value,
    pub iso_currency_code: String,
    pub wire_details: Value,
    /// Set on the transfers a recurring transfer originates.
    #[serde(default)]
    pub recurring_transfer_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransferEvent {
    pub event_id: u64,
    pub timestamp: OffsetDateTime,
    pub event_type: String,
    pub transfer_id: String,
    pub account_id: String,
    pub transfer_type: String,
    pub amount_cents: i64,
    pub failure_reason: Value,
}

/// A recurring transfer: what was asked, Plaid's decision, and the transfers it originated.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecurringTransfer {
    pub id: String,
    pub created: OffsetDateTime,
    pub item_id: String,
    pub account_id: String,
    pub transfer_type: String,
    pub network: String,
    pub ach_class: Option<String>,
    pub amount_cents: i64,
    pub iso_currency_code: String,
    pub user: Value,
    pub description: String,
    pub schedule: Value,
    pub test_clock_id: Option<String>,
    /// `active`, `cancelled` or `expired`.
    pub status: String,
    pub transfer_ids: Vec<String>,
    /// Scheduled dates already originated (by count, in order).
    pub originated: usize,
    /// The request body's canonical text, to tell a replay from a reused key.
    pub fingerprint: String,
}

/// One answered Plaid call, for `GET /sim/calls`. Only non-secret fields are kept.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CallRecord {
    pub endpoint: String,
    pub at: String,
    pub status: u16,
    pub fields: serde_json::Map<String, Value>,
}

/// Enough history for any test or demo, small enough that a long-running standalone simulator does
/// not grow without bound.
pub const MAX_CALLS: usize = 10_000;

/// The world; everything but the call log and armed faults is kept in the embedded default's
/// state file (see `persist`), so a restart of the service is invisible to Plaid's side.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct State {
    /// Keyed by access token.
    pub items: HashMap<String, Item>,
    pub accounts: HashMap<String, Account>,
    /// public token -> (access token it will exchange to, created).
    pub public_tokens: HashMap<String, (String, OffsetDateTime)>,
    pub authorizations: HashMap<String, Authorization>,
    /// idempotency_key -> authorization id.
    pub idempotency: HashMap<String, String>,
    pub transfers: HashMap<String, Transfer>,
    pub events: Vec<TransferEvent>,
    /// Recurring transfers by id, their idempotency keys, and sandbox test clocks.
    #[serde(default)]
    pub recurring: HashMap<String, RecurringTransfer>,
    #[serde(default)]
    pub recurring_keys: HashMap<String, String>,
    #[serde(default)]
    pub test_clocks: HashMap<String, OffsetDateTime>,
    /// The date recurring transfers without a test clock have reached (`/sim/recurring/advance`);
    /// none: today.
    #[serde(default)]
    pub recurring_date: Option<time::Date>,
    #[serde(skip)]
    pub calls: VecDeque<CallRecord>,
    #[serde(skip)]
    pub faults: Vec<Fault>,
}

impl State {
    /// The item behind an access token, or Plaid's INVALID_ACCESS_TOKEN.
    pub fn item(&self, access_token: &str) -> Result<&Item, PlaidError> {
        self.items.get(access_token).ok_or_else(PlaidError::invalid_access_token)
    }

    pub fn item_mut(&mut self, access_token: &str) -> Result<&mut Item, PlaidError> {
        self.items.get_mut(access_token).ok_or_else(PlaidError::invalid_access_token)
    }

    /// An account that belongs to `item`, or Plaid's INVALID_ACCOUNT_ID.
    pub fn account_on_item(&self, item: &Item, account_id: &str) -> Result<&Account, PlaidError> {
        self.accounts.get(account_id).filter(|a| a.item_id == item.item_id).ok_or_else(PlaidError::invalid_account_id)
    }

    pub fn push_event(&mut self, transfer: &Transfer, event_type: &str, failure_reason: Value, now: OffsetDateTime) {
        let event_id = self.events.last().map_or(1, |e| e.event_id + 1);
        self.events.push(TransferEvent {
            event_id,
            timestamp: now,
            event_type: event_type.to_owned(),
            transfer_id: transfer.id.clone(),
            account_id: transfer.account_id.clone(),
            transfer_type: transfer.transfer_type.clone(),
            amount_cents: transfer.amount_cents,
            failure_reason,
        });
    }

    /// The transfer with this id. Plaid does not document the unknown-transfer error; INVALID_FIELD
    /// naming the field is our guess.
    pub fn transfer_mut(&mut self, transfer_id: &str) -> Result<&mut Transfer, super::errors::PlaidError> {
        self.transfers
            .get_mut(transfer_id)
            .ok_or_else(|| super::errors::PlaidError::invalid_field("transfer_id does not match any transfer"))
    }

    pub fn record_call(&mut self, call: CallRecord) {
        if self.calls.len() >= MAX_CALLS {
            self.calls.pop_front();
        }
        self.calls.push_back(call);
    }
}

/// Plaid-looking opaque ids (item_id, account_id): 37 alphanumerics.
pub fn plaid_id() -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), 37)
}

/// Plaid request ids are short random alphanumerics.
pub fn request_id() -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), 15)
}

/// RFC 3339 in UTC with whole seconds, the way Plaid prints `created`.
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}
