//! Who is calling: agent API keys, approver passwords, TOTP step-up, sessions and approval tokens.
//! Pure building blocks; the rules that combine them live in `service::approvers` and
//! `service::decide`.

pub mod api_keys;
pub mod approval_token;
pub mod password;
pub mod tokens;
pub mod totp;
