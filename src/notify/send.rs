//! One outbound HTTP POST to a checked destination: pinned to the addresses the SSRF guard
//! checked, no redirects, no proxy, a total time limit, and at most `MAX_RESPONSE_BYTES` of the
//! answer read (we only need its status). Errors never carry the URL: a Slack webhook URL is a
//! secret.

use super::ssrf::{self, DestinationPolicy};
use std::time::Duration;

/// Enough of a receiver's answer to see it finish; the rest is not read.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// What a POST came to: the receiver's HTTP status, or why there was none.
pub type Sent = Result<u16, String>;

pub async fn post(
    url: &str,
    policy: DestinationPolicy,
    headers: &[(&str, String)],
    body: &str,
    timeout: Duration,
) -> Sent {
    let destination = ssrf::resolve(url, policy).await.map_err(|refused| format!("refused: {refused}"))?;
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)));
    if let Some((host, addrs)) = &destination.pinned {
        builder = builder.resolve_to_addrs(host, addrs);
    }
    let client = builder.build().map_err(|e| format!("client: {}", e.without_url()))?;
    let mut request = client.post(destination.url).header(reqwest::header::CONTENT_TYPE, "application/json");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let exchange = async {
        let mut response = request.body(body.to_owned()).send().await?;
        let status = response.status().as_u16();
        let mut read = 0;
        while read < MAX_RESPONSE_BYTES {
            match response.chunk().await? {
                Some(chunk) => read += chunk.len(),
                None => break,
            }
        }
        Ok::<u16, reqwest::Error>(status)
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(status)) => Ok(status),
        Ok(Err(error)) if error.is_timeout() => Err("timed out".into()),
        Ok(Err(error)) => Err(describe(&error)),
        Err(_) => Err("timed out".into()),
    }
}

/// A transport error in a few words, without the URL.
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_connect() {
        "could not connect"
    } else if error.is_redirect() {
        "redirect refused"
    } else if error.is_body() || error.is_decode() {
        "bad response body"
    } else {
        "transport error"
    };
    let mut cause = String::new();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        cause = inner.to_string();
        source = inner.source();
    }
    if cause.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {cause}")
    }
}
