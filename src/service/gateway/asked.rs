//! A read as the agent asked it: our fields taken out of Plaid's request, and the one lookup of
//! the caller's key with everything the read checks (grant, item, the agent's right to the item).

use super::Context;
use crate::domain::reads::ReadProduct;
use crate::domain::ItemId;
use crate::error::{Error, Result};
use crate::service::now_ms;
use crate::store::admin::KeyLookup;
use crate::store::items;
use crate::store::reads as read_rows;
use serde_json::{Map, Value};

/// What the agent sent besides Plaid's own request.
pub(super) struct OurFields {
    pub(super) item_id: ItemId,
    pub(super) reason: Option<String>,
    pub(super) thread_id: Option<String>,
}

fn take_text(body: &mut Map<String, Value>, name: &str, max: usize) -> Result<Option<String>> {
    match body.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.chars().count() <= max => Ok(Some(text)),
        Some(_) => {
            Err(Error::unprocessable("invalid_field", format!("{name} must be a string of at most {max} characters")))
        }
    }
}

fn our_fields(body: &mut Map<String, Value>) -> Result<OurFields> {
    for credential in ["access_token", "client_id", "secret"] {
        if body.contains_key(credential) {
            return Err(Error::unprocessable(
                "credentials_not_allowed",
                format!("send item_id instead of {credential}: Countersign holds the Plaid credentials"),
            ));
        }
    }
    let item_id = take_text(body, "item_id", 100)?
        .ok_or_else(|| Error::unprocessable("missing_field", "missing field `item_id`"))?;
    let item_id = ItemId::parse(&item_id)
        .ok_or_else(|| Error::unprocessable("unknown_item", format!("item {item_id:?} is not registered")))?;
    let reason = take_text(body, "reason", 500)?.filter(|r| !r.trim().is_empty());
    let thread_id = take_text(body, "thread_id", 200)?;
    Ok(OurFields { item_id, reason, thread_id })
}

/// A read as asked, with what the one lookup found for it; the caller's key is judged first.
pub struct Asked {
    /// Our fields and Plaid's request, or why the body is refused (told only to a known agent).
    pub(super) request: Result<(OurFields, Map<String, Value>)>,
    pub(super) grant: Option<bool>,
    pub(super) item: Option<items::ItemRecord>,
    pub(super) item_allowed: bool,
}

/// Looks up the presented key together with the agent's grant of `product`, the item the body
/// names and the agent's right to it: one statement for everything a read checks. Returns the
/// key's verdict, to be refused or rate-limited on before anything else is said, and the read.
pub async fn ask(
    ctx: &Context,
    key_hash: &str,
    product: ReadProduct,
    body: Result<Map<String, Value>>,
) -> Result<(KeyLookup, Asked)> {
    let request = body.and_then(|mut body| Ok((our_fields(&mut body)?, body)));
    let item_id = request.as_ref().map_or("", |(ours, _)| ours.item_id.as_str());
    let found = read_rows::access(ctx.store.reader(), key_hash, product.as_str(), item_id, now_ms()).await?;
    let asked = Asked { request, grant: found.grant, item: found.item, item_allowed: found.item_allowed };
    Ok((found.key, asked))
}
