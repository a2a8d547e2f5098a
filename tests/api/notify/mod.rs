//! Issue 13: the outbox, signed agent callbacks, approver alerts, the SSRF guard. Receivers are real
//! HTTP servers on loopback (allowed by the tests' `allow_private`); signatures are checked with the
//! official Standard Webhooks library (Python, `tests/notify/verify.py`).

mod alerts;
mod callbacks;
mod crash;
mod delivery;
mod destinations;
mod email;
pub mod receiver;
