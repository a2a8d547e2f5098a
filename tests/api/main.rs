//! Integration tests: the real HTTP server, SQLite and PostgreSQL, the Plaid simulator over HTTP.

mod helpers;

mod admin;
mod approvals;
mod audit_anchor;
mod audit_chainer;
mod audit_coverage;
mod audit_evidence;
mod audit_export;
mod audit_intruder;
mod audit_scale;
mod audit_tamper;
mod audit_trail;
mod bad_input;
mod crash;
mod data_at_rest;
mod desk;
mod execution;
mod group_commit;
mod idempotency;
mod items_and_ops;
mod lifecycle;
mod notify;
mod openapi_drift;
mod operations;
mod plaid_reads;
mod plaid_webhooks;
mod policy;
mod propose;
mod reconcile;
mod recurring;
mod signin;
mod transfer_lifecycle;
mod transitions;
mod ui;
