//! Which read products an agent may call (and which it gets unmasked), and the tier-1 reads
//! approvers review.

use super::{now_ms, Context};
use crate::audit::{self, AuditFields};
use crate::domain::reads::ReadProduct;
use crate::domain::AgentId;
use crate::error::{Error, Result};
use crate::store::reads::{self as read_rows, SensitiveRead};
use crate::store::Store;

/// Grants an agent read products (`countersign agent add --products …`); `unmasked` ones release
/// full numbers and identity details. Audited, one record per product.
pub async fn grant_products(
    store: &Store,
    agent: &AgentId,
    products: &[ReadProduct],
    unmasked: &[ReadProduct],
) -> Result<()> {
    check_unmasked(products, unmasked)?;
    let now = now_ms();
    let mut tx = store.begin().await?;
    for product in products {
        let full = unmasked.contains(product);
        read_rows::grant(&mut tx, agent.as_str(), product.as_str(), full).await?;
        audit::append(
            &mut tx,
            AuditFields {
                occurred_at: now,
                event_type: if full { "agent.read_granted.unmasked" } else { "agent.read_granted" }.into(),
                agent_id: Some(agent.to_string()),
                plaid_product: Some(product.as_str().into()),
                outcome: "success".into(),
                ..AuditFields::default()
            },
        )
        .await?;
    }
    store.commit(tx).await?;
    Ok(())
}

/// Every unmasked product must also be granted.
pub fn check_unmasked(products: &[ReadProduct], unmasked: &[ReadProduct]) -> Result<()> {
    match unmasked.iter().find(|p| !products.contains(p)) {
        Some(stray) => Err(Error::unprocessable(
            "unmasked_not_granted",
            format!("--unmasked {} needs {} among --products", stray.as_str(), stray.as_str()),
        )),
        None => Ok(()),
    }
}

/// The most recent tier-1 (and higher) reads, newest first, for the approvers' page.
pub async fn recent_sensitive(ctx: &Context, limit: i64) -> Result<Vec<SensitiveRead>> {
    Ok(read_rows::recent_sensitive(ctx.store.reader(), limit).await?)
}

/// Parses a comma list of product names (the CLI's `--products`).
pub fn parse_products(names: &[String]) -> Result<Vec<ReadProduct>> {
    names
        .iter()
        .map(|name| {
            ReadProduct::parse(name.trim()).ok_or_else(|| {
                let known: Vec<&str> = ReadProduct::ALL.iter().map(|p| p.as_str()).collect();
                Error::unprocessable("unknown_product", format!("{name:?} is not one of {}", known.join(", ")))
            })
        })
        .collect()
}
