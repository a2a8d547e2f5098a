//! Typed `/auth/get` and `/identity/get` answers, masked before they are serialised.
//!
//! Only these two products carry the PII DESIGN §5 puts at tier 1. Masking happens on the typed
//! value: account, routing and similar numbers keep their last four characters
//! (`numbers.ach[].account: "••••1111"`); owners keep their names while addresses, emails and phone
//! numbers are masked. Inside `numbers` and `owners` only the fields named here are kept: a field
//! Plaid adds later is dropped rather than passed on unmasked. Everything else in the answer passes
//! through as Plaid sent it.

use crate::domain::reads::{mask_all, mask_email, mask_last4};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Serialize, Deserialize)]
pub struct AuthGetResponse {
    numbers: AuthNumbers,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

#[derive(Debug, Serialize, Deserialize)]
struct AuthNumbers {
    #[serde(default)]
    ach: Vec<NumbersAch>,
    #[serde(default)]
    eft: Vec<NumbersEft>,
    #[serde(default)]
    international: Vec<NumbersInternational>,
    #[serde(default)]
    bacs: Vec<NumbersBacs>,
}

#[derive(Debug, Serialize, Deserialize)]
struct NumbersAch {
    account_id: String,
    account: String,
    routing: String,
    wire_routing: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    can_transfer_in: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    can_transfer_out: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    is_tokenized_account_number: Option<bool>,
}

#[derive(Debug, Serialize, Deserialize)]
struct NumbersEft {
    account_id: String,
    account: String,
    institution: String,
    branch: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct NumbersInternational {
    account_id: String,
    iban: String,
    bic: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct NumbersBacs {
    account_id: String,
    account: String,
    sort_code: String,
}

fn mask_in_place(value: &mut String, mask: fn(&str) -> String) {
    *value = mask(value);
}

impl AuthGetResponse {
    pub fn redact(&mut self) {
        let numbers = &mut self.numbers;
        for n in &mut numbers.ach {
            mask_in_place(&mut n.account, mask_last4);
            mask_in_place(&mut n.routing, mask_last4);
            if let Some(wire) = &mut n.wire_routing {
                mask_in_place(wire, mask_last4);
            }
        }
        for n in &mut numbers.eft {
            mask_in_place(&mut n.account, mask_last4);
            mask_in_place(&mut n.institution, mask_last4);
            mask_in_place(&mut n.branch, mask_last4);
        }
        for n in &mut numbers.international {
            mask_in_place(&mut n.iban, mask_last4);
            mask_in_place(&mut n.bic, mask_last4);
        }
        for n in &mut numbers.bacs {
            mask_in_place(&mut n.account, mask_last4);
            mask_in_place(&mut n.sort_code, mask_last4);
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct IdentityGetResponse {
    accounts: Vec<IdentityAccount>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

#[derive(Debug, Serialize, Deserialize)]
struct IdentityAccount {
    #[serde(default)]
    owners: Vec<Owner>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Owner {
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    addresses: Vec<Address>,
    #[serde(default)]
    emails: Vec<Contact>,
    #[serde(default)]
    phone_numbers: Vec<Contact>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Address {
    data: AddressData,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    primary: Option<bool>,
}

#[derive(Debug, Serialize, Deserialize)]
struct AddressData {
    street: Option<String>,
    city: Option<String>,
    region: Option<String>,
    postal_code: Option<String>,
    country: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Contact {
    data: String,
    primary: bool,
    #[serde(rename = "type")]
    kind: String,
}

impl IdentityGetResponse {
    /// Street, city and postal code hidden (region and country kept), emails keep their domain,
    /// phone numbers their last four digits.
    pub fn redact(&mut self) {
        for owner in self.accounts.iter_mut().flat_map(|a| a.owners.iter_mut()) {
            for address in &mut owner.addresses {
                let data = &mut address.data;
                for field in [&mut data.street, &mut data.city, &mut data.postal_code].into_iter().flatten() {
                    mask_in_place(field, mask_all);
                }
            }
            for email in &mut owner.emails {
                mask_in_place(&mut email.data, mask_email);
            }
            for phone in &mut owner.phone_numbers {
                mask_in_place(&mut phone.data, mask_last4);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn auth_numbers_keep_only_their_last_four_and_unknown_number_fields_are_dropped() {
        let mut answer: AuthGetResponse = serde_json::from_value(json!({
            "accounts": [{"account_id": "a"}], "item": {}, "request_id": "r",
            "numbers": {"ach": [{"account_id": "a", "account": "912345670000", "routing": "011401533",
                                 "wire_routing": "021000021", "new_secret": "912345670000"}],
                        "eft": [], "international": [], "bacs": []}
        }))
        .unwrap();
        answer.redact();
        let text = serde_json::to_string(&answer).unwrap();
        assert!(!text.contains("912345670000") && !text.contains("011401533"), "{text}");
        assert!(text.contains("\"account\":\"••••0000\""), "{text}");
        assert!(text.contains("\"request_id\":\"r\""), "{text}");
    }

    #[test]
    fn identity_keeps_names_and_masks_contact_details() {
        let mut answer: IdentityGetResponse = serde_json::from_value(json!({
            "item": {}, "request_id": "r",
            "accounts": [{"account_id": "a", "owners": [{
                "names": ["Ada Lovelace"],
                "addresses": [{"data": {"street": "1 Main St", "city": "Town", "region": "NY",
                                        "postal_code": "14236", "country": "US"}, "primary": true}],
                "emails": [{"data": "ada@example.com", "primary": true, "type": "primary"}],
                "phone_numbers": [{"data": "+1 111-555-3333", "primary": false, "type": "home"}]}]}]
        }))
        .unwrap();
        answer.redact();
        let text = serde_json::to_string(&answer).unwrap();
        for secret in ["1 Main St", "Town", "14236", "ada@", "555-3333"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(text.contains("Ada Lovelace") && text.contains("••••@example.com") && text.contains("••••3333"));
    }
}
