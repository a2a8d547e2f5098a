//! How a message of each channel is sent. Agent callbacks and alert webhooks are signed with the
//! secrets as they are at the moment of sending (so a rotation applies to retries), the same
//! `webhook-id` every time.

use super::worker::Worker;
use super::{alerts, email, send, signing, AGENT_CALLBACK, CONSOLE, EMAIL, SLACK, WEBHOOK};
use crate::store::agents;
use crate::store::outbox::Message;
use secrecy::ExposeSecret;

/// Sends `message` once: the receiver's HTTP status, or why there was none.
pub async fn send(worker: &Worker, message: &Message) -> send::Sent {
    let outbound = &worker.outbound;
    match message.channel.as_str() {
        AGENT_CALLBACK => {
            let secrets = agent_secrets(worker, message).await?;
            let headers = signed_headers(&secrets, &message.id, &message.payload)?;
            send::post(&message.destination, outbound.policy, &headers, &message.payload, outbound.timeout).await
        }
        WEBHOOK => {
            let secrets: Vec<String> =
                outbound.alert_webhook_secret.iter().map(|s| s.expose_secret().to_owned()).collect();
            let headers = signed_headers(&secrets, &message.id, &message.payload)?;
            let url = destination(worker, message)?;
            send::post(&url, outbound.policy, &headers, &message.payload, outbound.timeout).await
        }
        SLACK => {
            let url = destination(worker, message)?;
            send::post(&url, outbound.policy, &[], &message.payload, outbound.timeout).await
        }
        EMAIL => email::send(outbound.smtp.as_ref(), &message.payload, outbound.timeout).await,
        alerts::FAN_OUT => alerts::expand(worker, message).await,
        CONSOLE => {
            let text = serde_json::from_str::<serde_json::Value>(&message.payload)
                .ok()
                .and_then(|v| v["text"].as_str().map(str::to_owned))
                .unwrap_or_else(|| message.payload.clone());
            println!("ALERT {}: {text}", message.event_type);
            Ok(200)
        }
        other => Err(format!("unknown channel {other:?}")),
    }
}

/// The message's destination; Slack and webhook URLs are stored encrypted (`enc:` prefix).
fn destination(worker: &Worker, message: &Message) -> Result<String, String> {
    match message.destination.strip_prefix("enc:") {
        Some(sealed) => worker.master_key.decrypt(sealed).map_err(|_| "the destination could not be decrypted".into()),
        None => Ok(message.destination.clone()),
    }
}

/// The agent's current secret, and the previous one while its overlap lasts, decrypted.
async fn agent_secrets(worker: &Worker, message: &Message) -> Result<Vec<String>, String> {
    let agent = message.agent_id.as_deref().ok_or("a callback without an agent")?;
    let callback = agents::callback(worker.store.reader(), agent)
        .await
        .map_err(|e| format!("reading the agent's secret: {e}"))?
        .ok_or("the agent has no callback secret any more")?;
    let now = crate::service::now_ms();
    let mut secrets = vec![callback.secret_enc];
    if let (Some(previous), Some(until)) = (callback.previous_secret_enc, callback.previous_until) {
        if until > now {
            secrets.push(previous);
        }
    }
    secrets
        .iter()
        .map(|enc| worker.master_key.decrypt(enc).map_err(|_| "the agent's secret could not be decrypted".to_owned()))
        .collect()
}

fn signed_headers(secrets: &[String], id: &str, body: &str) -> Result<Vec<(&'static str, String)>, String> {
    let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut headers = vec![("webhook-id", id.to_owned()), ("webhook-timestamp", timestamp.to_string())];
    if !secrets.is_empty() {
        let signature = signing::signature_header(secrets, id, timestamp, body).map_err(|e| e.to_string())?;
        headers.push(("webhook-signature", signature));
    }
    Ok(headers)
}
