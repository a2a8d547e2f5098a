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
    let approver = demo_approver(ctx, data_dir).await?;
    // A documented policy to start from (not active until COUNTERSIGN_POLICY_FILE names it).
    let example = data_dir.join("policy.example.toml");
    if !example.exists() {
        crate::private_fs::write_atomically(&example, crate::domain::policy::EXAMPLE.as_bytes())?;
    }
    let accounts = items::accounts(ctx.store.reader(), &item_id).await?;
    let account = accounts.first().map(|a| a.account_id.clone()).unwrap_or_default();
    Ok(format!(
        "\nCountersign is running (embedded: SQLite in {dir}, Plaid simulator in-process).\n\
         Demo agent API key: {api_key}\n\
         Propose a transfer:\n\n  curl -s http://127.0.0.1:{port}/v1/transfers \\\n    -H 'Authorization: Bearer {api_key}' \\\n    -H 'Content-Type: application/json' -H \"Idempotency-Key: $(date +%s%N)\" \\\n    -d '{{\"item_id\":\"{item_id}\",\"account_id\":\"{account}\",\"type\":\"debit\",\"network\":\"ach\",\"ach_class\":\"web\",\"amount\":\"1250.00\",\"description\":\"Invoice 42\",\"user\":{{\"legal_name\":\"Ada Lovelace\"}},\"thread_id\":\"demo-thread\",\"reason\":\"Collect invoice 42\"}}'\n\n\
         Then: curl -s http://127.0.0.1:{port}/v1/transfers -H 'Authorization: Bearer {api_key}'\n\n\
         Demo approver: username {DEMO_APPROVER}, password {password}\n\
         Add this TOTP secret to an authenticator app (or `oathtool --totp -b {secret}`):\n{uri}\n{qr}\n\
         Risk policy: the built-in one; a documented example to start from is {dir}/policy.example.toml\n\
         Approve in the web form: http://127.0.0.1:{port}/ui (sign in as {DEMO_APPROVER})\n\
         or by API: curl -s http://127.0.0.1:{port}/v1/approver/sessions -H 'Content-Type: application/json' \\\n    \
         -d '{{\"username\":\"{DEMO_APPROVER}\",\"password\":\"{password}\",\"totp\":\"<6 digits>\"}}'\n",
        password = approver.password,
        secret = approver.secret,
        uri = approver.otpauth_uri,
        qr = crate::auth::totp::qr_terminal(&approver.otpauth_uri).unwrap_or_default(),
        dir = data_dir.display(),
    ))
}

const DEMO_APPROVER: &str = "demo-approver";

#[derive(serde::Serialize, serde::Deserialize)]
struct DemoApprover {
    password: String,
    secret: String,
    otpauth_uri: String,
}

/// The demo approver's sign-in details live in a 0600 file in the data directory (embedded mode
/// only), so the banner can show them on every start.
async fn demo_approver(ctx: &Context, data_dir: &Path) -> anyhow::Result<DemoApprover> {
    let path = data_dir.join("demo-approver.json");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return Ok(serde_json::from_str(&text)?);
    }
    let enrollment =
        crate::service::approvers::add_approver(&ctx.store, &ctx.master_key, DEMO_APPROVER, "approver", None, None)
            .await?;
    let details = DemoApprover {
        password: enrollment.generated_password.unwrap_or_default(),
        secret: enrollment.totp_secret_base32,
        otpauth_uri: enrollment.otpauth_uri,
    };
    let json = serde_json::to_string(&details)?;
    read_or_create_secret_file(&path, || json)?;
    Ok(details)
}
