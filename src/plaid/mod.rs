//! Plaid: a typed client for the endpoints Countersign uses, and (in `sim`) a Plaid simulator.
//!
//! The client is thin on purpose: typed requests and responses, Plaid's error object decoded,
//! timeouts. It never retries on its own; the service decides what is safe to repeat.

pub mod client;
pub mod error;
pub mod sim;
pub mod types;
pub mod webhook_verify;

pub use client::{PlaidClient, PlaidEnvironment};
pub use error::{PlaidApiError, PlaidError};
