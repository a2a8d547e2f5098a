//! The hash-chained audit log. Every state change appends here in the same transaction, so a
//! change without its record (or a record without its change) cannot be committed.
//!
//! Records never hold PII or secrets: no legal names, access tokens, account numbers or TOTP codes;
//! account ids are masked before they get here. `export` writes the trail for auditors,
//! `checkpoint` signs its head, `anchor` keeps each signature outside the database, and `verify`
//! proves an export or the live table untouched.

pub mod anchor;
pub mod chain;
pub mod checkpoint;
pub mod export;
pub mod verify;

pub use crate::store::audit::AuditFields;
pub use chain::{append, identified, mask_account, record_hash, settle, GENESIS_HASH};
