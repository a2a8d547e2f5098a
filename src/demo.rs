//! The embedded default's first-run experience: a demo item and agent, and a banner that says
//! how to propose a transfer. Only used when nothing is configured.

use crate::service::{registry, Context};
use crate::startup::read_or_create_secret_file;
use crate::store::items;
use std::path::Path;

const DEMO_AGENT: &str = "demo-agent";

/// Seeds once; afterwards re-reads the demo key from its 0600 file so the banner stays useful.
pub async fn seed(ctx: &Context, data_dir: &Path, port: u16) -> anyhow::Result<String> {
    let key_path = data_dir.join("demo-agent.key");
    let existing_items = items::all(ctx.store.reader()).await?;
    let item_id = match existing_items.first() {
        Some(item) => item.id.clone(),
        None => registry::add_sandbox_item(ctx).await?,
    };
    let api_key = if key_path.exists() {
        read_or_create_secret_file(&key_path, String::new)?
    } else {
        let created = registry::add_agent(&ctx.store, DEMO_AGENT, "demo-owner", None).await?;
        read_or_create_secret_file(&key_path, || created.api_key)?
    };
    let accounts = items::accounts(ctx.store.reader(), &item_id).await?;
    let account = accounts.first().map(|a| a.account_id.clone()).unwrap_or_default();
    Ok(format!(
        "\nCountersign is running (embedded: SQLite in {dir}, Plaid simulator in-process).\n\
         Demo agent API key: {api_key}\n\
         Propose a transfer:\n\n  curl -s http://127.0.0.1:{port}/v1/transfers \\\n    -H 'Authorization: Bearer {api_key}' \\\n    -H 'Content-Type: application/json' -H \"Idempotency-Key: $(date +%s%N)\" \\\n    -d '{{\"item_id\":\"{item_id}\",\"account_id\":\"{account}\",\"type\":\"debit\",\"network\":\"ach\",\"ach_class\":\"web\",\"amount\":\"1250.00\",\"description\":\"Invoice 42\",\"user\":{{\"legal_name\":\"Ada Lovelace\"}},\"thread_id\":\"demo-thread\",\"reason\":\"Collect invoice 42\"}}'\n\n\
         Then: curl -s http://127.0.0.1:{port}/v1/transfers -H 'Authorization: Bearer {api_key}'\n",
        dir = data_dir.display(),
    ))
}
