//! Countersign: lets AI agents move money through Plaid Transfer only with a human's countersignature.
//!
//! Layers (each uses only those below it): `http` → `service` → `auth`/`audit` → `plaid` → `store` → `domain`.

pub mod audit;
pub mod auth;
pub mod bench;
pub mod cli;
pub mod cli_admin;
pub mod cli_audit;
pub mod cli_notify;
pub mod cli_policy;
pub mod config;
pub mod crypto;
pub mod demo;
pub mod domain;
pub mod error;
pub mod http;
pub mod metrics;
pub mod notify;
pub mod plaid;
pub mod private_fs;
pub mod service;
pub mod startup;
pub mod store;
