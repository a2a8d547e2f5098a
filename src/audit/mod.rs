//! The hash-chained audit log. Every state change appends here in the same transaction, so a
//! change without its record (or a record without its change) cannot be committed.
//!
//! Records never hold PII or secrets: no legal names, access tokens, account numbers or TOTP codes;
//! account ids are masked before they get here.

pub mod chain;

pub use crate::store::audit::AuditFields;
pub use chain::{append, mask_account, record_hash, GENESIS_HASH};
