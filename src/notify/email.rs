//! Alert emails over SMTP (lettre): STARTTLS required unless the operator explicitly turns TLS
//! off (`COUNTERSIGN_SMTP_TLS=none`, for a relay on the same host), a plain-text and an HTML part.
//! The password is a `SecretString`; errors name no recipient and no credential.

use secrecy::{ExposeSecret, SecretString};
use std::path::PathBuf;
use std::time::Duration;

/// The SMTP relay alerts are sent through.
#[derive(Debug, Clone)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub from: String,
    /// STARTTLS, required (the default), or none.
    pub starttls: bool,
    /// An extra root certificate (PEM) to trust, for a relay with a private CA.
    pub ca_file: Option<PathBuf>,
}

/// The email envelope a message carries (`content::Alert::payload_for`).
#[derive(serde::Deserialize)]
struct Email {
    to: String,
    subject: String,
    text: String,
    html: String,
}

/// Sends one alert email; `Ok(250)` once the relay accepted it.
pub async fn send(smtp: Option<&Smtp>, payload: &str, timeout: Duration) -> Result<u16, String> {
    use lettre::message::{Mailbox, MultiPart};
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

    let smtp = smtp.ok_or("no SMTP relay is configured (COUNTERSIGN_SMTP_HOST)")?;
    let email: Email = serde_json::from_str(payload).map_err(|_| "a malformed email message")?;
    let from: Mailbox = smtp.from.parse().map_err(|_| "COUNTERSIGN_SMTP_FROM is not an address")?;
    let to: Mailbox = email.to.parse().map_err(|_| "the recipient is not an address")?;
    let message = Message::builder()
        .from(from)
        .to(to)
        .subject(email.subject)
        .multipart(MultiPart::alternative_plain_html(email.text, email.html))
        .map_err(|e| format!("building the email: {e}"))?;
    let tls = if smtp.starttls {
        let mut parameters = TlsParameters::builder(smtp.host.clone());
        if let Some(path) = &smtp.ca_file {
            let pem = std::fs::read(path).map_err(|_| "COUNTERSIGN_SMTP_CA_FILE cannot be read")?;
            let certificate =
                Certificate::from_pem(&pem).map_err(|_| "COUNTERSIGN_SMTP_CA_FILE is not a PEM certificate")?;
            parameters = parameters.add_root_certificate(certificate);
        }
        Tls::Required(parameters.build_rustls().map_err(|e| format!("TLS setup: {e}"))?)
    } else {
        Tls::None
    };
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
        .port(smtp.port)
        .tls(tls)
        .timeout(Some(timeout));
    if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
        transport = transport.credentials(Credentials::new(user.clone(), password.expose_secret().to_owned()));
    }
    let sent = tokio::time::timeout(timeout, transport.build().send(message)).await;
    match sent {
        Ok(Ok(response)) => Ok(u16::from(response.code())),
        Ok(Err(error)) => Err(format!("SMTP: {error}")),
        Err(_) => Err("timed out".into()),
    }
}
