//! The Plaid simulator over real HTTP on loopback: validation, decisions, transfers, faults and
//! signed webhooks, with every answer checked against Plaid's own schemas.

#[path = "plaid_sim/conformance.rs"]
mod conformance;
#[path = "plaid_sim/current.rs"]
mod current;
#[path = "plaid_sim/decisions.rs"]
mod decisions;
#[path = "plaid_sim/faults.rs"]
mod faults;
#[path = "plaid_sim/helpers.rs"]
mod helpers;
#[path = "plaid_sim/items.rs"]
mod items;
#[path = "plaid_sim/lists.rs"]
mod lists;
#[path = "plaid_sim/persistence.rs"]
mod persistence;
#[path = "plaid_sim/reads.rs"]
mod reads;
#[path = "plaid_sim/recurring.rs"]
mod recurring;
#[path = "plaid_sim/schema.rs"]
mod schema;
#[path = "plaid_sim/standalone.rs"]
mod standalone;
#[path = "plaid_sim/transfers.rs"]
mod transfers;
#[path = "plaid_sim/validation.rs"]
mod validation;
#[path = "plaid_sim/webhooks.rs"]
mod webhooks;
