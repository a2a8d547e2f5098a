//! `TransferIntent`: what a human approves, parsed from an agent's proposal, and its canonical hash.
//!
//! After this module nothing handles raw strings for amounts, descriptions or names. The hash binds
//! the intent to Plaid's authorization id; it is pinned, shown to approvers, and re-checked right
//! before `/transfer/create`.

use super::canonical::{canonical_json, sha256_hex};
use super::ids::{AgentId, ItemId};
use super::money::Money;
use super::schedule::Schedule;
use super::text;
use serde_json::json;

/// A field-level validation failure with a stable machine code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentError {
    pub code: &'static str,
    pub message: String,
}

impl IntentError {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident, $code:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Result<Self, IntentError> {
                match text {
                    $($text => Ok(Self::$variant),)+
                    other => Err(IntentError::new(
                        $code,
                        format!("{other:?} is not one of: {}", [$($text),+].join(", ")),
                    )),
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// `debit` pulls money from the user's account into ours; `credit` pays it out to the user.
    TransferType, "invalid_type", { Debit => "debit", Credit => "credit" }
);
string_enum!(Network, "invalid_network", {
    Ach => "ach", SameDayAch => "same-day-ach", Rtp => "rtp", Wire => "wire"
});
string_enum!(AchClass, "invalid_ach_class", { Ccd => "ccd", Ppd => "ppd", Tel => "tel", Web => "web" });

impl Network {
    pub fn is_ach(self) -> bool {
        matches!(self, Network::Ach | Network::SameDayAch)
    }

    /// ACH statement descriptions are cut at 10 characters; RTP and wire allow 15 (Plaid's docs).
    fn description_limit(self) -> usize {
        if self.is_ach() {
            10
        } else {
            15
        }
    }
}

macro_rules! bounded_text {
    ($(#[$doc:meta])* $name:ident, $code:literal, $what:literal, $max:expr, $allowed:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            pub fn parse(text: &str) -> Result<Self, IntentError> {
                let trimmed = text.trim();
                if trimmed.is_empty() {
                    return Err(IntentError::new($code, concat!($what, " must not be empty")));
                }
                if trimmed.chars().count() > $max {
                    return Err(IntentError::new($code, format!("{} must be at most {} characters", $what, $max)));
                }
                if !$allowed(trimmed) {
                    return Err(IntentError::new($code, concat!($what, " must not contain control characters")));
                }
                Ok(Self(trimmed.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

bounded_text!(
    /// The counterparty's legal name, as Plaid requires it. PII: never logged or audited.
    LegalName, "invalid_legal_name", "user.legal_name", 100, text::is_single_line
);
bounded_text!(
    /// The agent's conversation or workflow id, shown to approvers and audited.
    ThreadId, "invalid_thread_id", "thread_id", 200, text::is_single_line
);
bounded_text!(
    /// Why the agent wants to move this money, in its own words, over several lines if it likes;
    /// shown to approvers.
    Reason, "invalid_reason", "reason", 1000, text::is_free_text
);
bounded_text!(
    /// Plaid's account id within an item.
    PlaidAccountId, "invalid_account_id", "account_id", 100, text::is_single_line
);

/// Statement description; its limit depends on the network, so it is checked with the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    pub fn parse(text: &str, network: Network) -> Result<Self, IntentError> {
        let limit = network.description_limit();
        let length = text.chars().count();
        if length == 0 || length > limit {
            return Err(IntentError::new(
                "invalid_description",
                format!("description must be 1 to {limit} characters for {}", network.as_str()),
            ));
        }
        if !text.chars().all(|c| c.is_ascii() && !c.is_ascii_control()) {
            return Err(IntentError::new("invalid_description", "description must be printable ASCII"));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The proposal as it arrives, strings only; [`TransferIntent::parse`] turns it into domain types.
#[derive(Debug, Clone)]
pub struct RawIntent<'a> {
    pub item_id: &'a str,
    pub account_id: &'a str,
    pub transfer_type: &'a str,
    pub network: &'a str,
    pub ach_class: Option<&'a str>,
    pub amount: &'a str,
    pub description: &'a str,
    pub legal_name: &'a str,
    pub thread_id: &'a str,
    pub reason: &'a str,
}

/// A validated proposal: exactly what a human is asked to approve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferIntent {
    pub agent_id: AgentId,
    pub item_id: ItemId,
    pub account_id: PlaidAccountId,
    pub transfer_type: TransferType,
    pub network: Network,
    pub ach_class: Option<AchClass>,
    pub amount: Money,
    pub description: Description,
    pub legal_name: LegalName,
    pub thread_id: ThreadId,
    pub reason: Reason,
    /// A recurring transfer's schedule (`/transfer/recurring/create`); `None` for one transfer.
    pub schedule: Option<Schedule>,
}

impl TransferIntent {
    /// Makes this intent a recurring transfer on `schedule`. Plaid runs recurring transfers over
    /// ACH, same-day ACH and RTP only.
    pub fn recurring(mut self, schedule: Schedule) -> Result<Self, IntentError> {
        if self.network == Network::Wire {
            return Err(IntentError::new("invalid_network_for_schedule", "a recurring transfer cannot use wire"));
        }
        self.schedule = Some(schedule);
        Ok(self)
    }

    /// The schedule in words, with the account's last four digits.
    pub fn schedule_in_words(&self, account_mask: &str) -> Option<String> {
        let schedule = self.schedule.as_ref()?;
        Some(schedule.describe(self.transfer_type == TransferType::Debit, self.amount, account_mask))
    }

    pub fn parse(agent_id: AgentId, raw: &RawIntent<'_>) -> Result<Self, IntentError> {
        let item_id = ItemId::parse(raw.item_id)
            .ok_or_else(|| IntentError::new("invalid_item_id", "item_id is not a Countersign item id (it_...)"))?;
        let transfer_type = TransferType::parse(raw.transfer_type)?;
        let network = Network::parse(raw.network)?;
        let amount = Money::parse(raw.amount).map_err(|e| IntentError::new("invalid_amount", e.to_string()))?;
        if amount.is_zero() {
            return Err(IntentError::new("invalid_amount", "amount must be greater than 0.00"));
        }
        let ach_class = raw.ach_class.map(AchClass::parse).transpose()?;
        check_network_rules(transfer_type, network, ach_class)?;
        Ok(Self {
            agent_id,
            item_id,
            account_id: PlaidAccountId::parse(raw.account_id)?,
            transfer_type,
            network,
            ach_class,
            amount,
            description: Description::parse(raw.description, network)?,
            legal_name: LegalName::parse(raw.legal_name)?,
            thread_id: ThreadId::parse(raw.thread_id)?,
            reason: Reason::parse(raw.reason)?,
            schedule: None,
        })
    }

    /// Re-reads an intent stored by [`TransferIntent::to_json`], applying every rule again.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, IntentError> {
        let text = |key: &str| value.get(key).and_then(serde_json::Value::as_str).unwrap_or_default();
        let agent_id = AgentId::parse(text("agent_id"))
            .ok_or_else(|| IntentError::new("invalid_agent_id", "stored intent has no agent id"))?;
        let raw = RawIntent {
            item_id: text("item_id"),
            account_id: text("account_id"),
            transfer_type: text("type"),
            network: text("network"),
            ach_class: value.get("ach_class").and_then(serde_json::Value::as_str),
            amount: text("amount"),
            description: text("description"),
            legal_name: value.pointer("/user/legal_name").and_then(serde_json::Value::as_str).unwrap_or_default(),
            thread_id: text("thread_id"),
            reason: text("reason"),
        };
        let intent = Self::parse(agent_id, &raw)?;
        match value.get("schedule").filter(|s| !s.is_null()) {
            None => Ok(intent),
            Some(stored) => {
                let schedule = Schedule::from_json(stored).map_err(|e| IntentError::new(e.code, e.message))?;
                intent.recurring(schedule)
            }
        }
    }

    /// Everything a human approves, as JSON with amounts as strings. Also what we store.
    pub fn to_json(&self) -> serde_json::Value {
        let mut value = json!({
            "agent_id": self.agent_id,
            "item_id": self.item_id,
            "account_id": self.account_id.as_str(),
            "type": self.transfer_type,
            "network": self.network,
            "ach_class": self.ach_class,
            "amount": self.amount,
            "description": self.description.as_str(),
            "user": { "legal_name": self.legal_name.as_str() },
            "thread_id": self.thread_id.as_str(),
            "reason": self.reason.as_str(),
        });
        // Only a recurring intent has the key, so one-off intents hash as they always did.
        if let (Some(schedule), Some(object)) = (&self.schedule, value.as_object_mut()) {
            object.insert("schedule".into(), schedule.to_json());
        }
        value
    }

    /// SHA-256 of the canonical JSON of the intent plus Plaid's authorization id.
    pub fn payload_hash(&self, authorization_id: &str) -> String {
        let mut value = self.to_json();
        if let Some(object) = value.as_object_mut() {
            object.insert("authorization_id".into(), authorization_id.into());
        }
        sha256_hex(canonical_json(&value).as_bytes())
    }
}

/// Plaid's pairing rules: wire and RTP only pay out; ACH needs a class allowed for its direction.
fn check_network_rules(
    transfer_type: TransferType,
    network: Network,
    ach_class: Option<AchClass>,
) -> Result<(), IntentError> {
    if matches!(network, Network::Wire | Network::Rtp) && transfer_type == TransferType::Debit {
        return Err(IntentError::new(
            "invalid_network_for_type",
            format!("{} transfers can only be credits", network.as_str()),
        ));
    }
    match (network.is_ach(), ach_class) {
        (true, None) => Err(IntentError::new("missing_ach_class", "ach_class is required for ACH transfers")),
        (false, Some(_)) => Err(IntentError::new(
            "invalid_ach_class",
            format!("ach_class applies only to ACH, not {}", network.as_str()),
        )),
        (true, Some(class)) => {
            let allowed = match transfer_type {
                TransferType::Credit => matches!(class, AchClass::Ccd | AchClass::Ppd),
                TransferType::Debit => {
                    matches!(class, AchClass::Ccd | AchClass::Tel | AchClass::Web)
                }
            };
            if allowed {
                Ok(())
            } else {
                Err(IntentError::new(
                    "invalid_ach_class",
                    format!("ach_class {} is not allowed for {}s", class.as_str(), transfer_type.as_str()),
                ))
            }
        }
        (false, None) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawIntent<'static> {
        RawIntent {
            item_id: "it_0190f3c2a1b27c3d8e9f0a1b2c3d4e5f",
            account_id: "acc_123",
            transfer_type: "debit",
            network: "ach",
            ach_class: Some("web"),
            amount: "12.34",
            description: "Invoice 12",
            legal_name: "Ada Lovelace",
            thread_id: "thread-1",
            reason: "monthly invoice",
        }
    }

    fn parse(raw: RawIntent<'_>) -> Result<TransferIntent, &'static str> {
        TransferIntent::parse(AgentId::generate(), &raw).map_err(|e| e.code)
    }

    #[test]
    fn a_well_formed_proposal_parses() {
        let intent = parse(raw()).expect("valid");
        assert_eq!(intent.amount.cents(), 1234);
        assert_eq!(intent.ach_class, Some(AchClass::Web));
    }

    #[test]
    fn each_bad_field_has_its_own_code() {
        assert_eq!(parse(RawIntent { amount: "12.3", ..raw() }).err(), Some("invalid_amount"));
        assert_eq!(parse(RawIntent { amount: "0.00", ..raw() }).err(), Some("invalid_amount"));
        assert_eq!(parse(RawIntent { description: "Eleven char", ..raw() }).err(), Some("invalid_description"));
        assert_eq!(parse(RawIntent { description: "", ..raw() }).err(), Some("invalid_description"));
        assert_eq!(parse(RawIntent { legal_name: "  ", ..raw() }).err(), Some("invalid_legal_name"));
        assert_eq!(parse(RawIntent { ach_class: None, ..raw() }).err(), Some("missing_ach_class"));
        assert_eq!(parse(RawIntent { ach_class: Some("ppd"), ..raw() }).err(), Some("invalid_ach_class"));
        assert_eq!(parse(RawIntent { network: "swift", ..raw() }).err(), Some("invalid_network"));
        assert_eq!(parse(RawIntent { transfer_type: "pull", ..raw() }).err(), Some("invalid_type"));
        assert_eq!(parse(RawIntent { item_id: "item-1", ..raw() }).err(), Some("invalid_item_id"));
        assert_eq!(parse(RawIntent { reason: "", ..raw() }).err(), Some("invalid_reason"));
        assert_eq!(parse(RawIntent { thread_id: "", ..raw() }).err(), Some("invalid_thread_id"));
    }

    #[test]
    fn wire_and_rtp_are_credit_only_and_take_no_ach_class() {
        let wire_debit = RawIntent { network: "wire", ach_class: None, ..raw() };
        assert_eq!(parse(wire_debit).err(), Some("invalid_network_for_type"));
        let rtp_credit = RawIntent {
            network: "rtp",
            transfer_type: "credit",
            ach_class: None,
            description: "Fifteen chars!!",
            ..raw()
        };
        assert!(parse(rtp_credit).is_ok());
        let rtp_with_class = RawIntent { network: "rtp", transfer_type: "credit", ..raw() };
        assert_eq!(parse(rtp_with_class).err(), Some("invalid_ach_class"));
    }

    #[test]
    fn a_stored_intent_reads_back_identically() {
        let intent = parse(raw()).expect("valid");
        assert_eq!(TransferIntent::from_json(&intent.to_json()), Ok(intent));
    }

    #[test]
    fn the_hash_changes_with_any_field_and_with_the_authorization() {
        let intent = parse(raw()).expect("valid");
        let base = intent.payload_hash("auth-1");
        assert_eq!(base.len(), 64);
        assert_eq!(base, intent.payload_hash("auth-1"));
        assert_ne!(base, intent.payload_hash("auth-2"));
        let mut cheaper = intent.clone();
        cheaper.amount = Money::parse("12.33").expect("valid");
        assert_ne!(base, cheaper.payload_hash("auth-1"));
    }
}
