//! The approver's cookies: the session (`__Host-countersign`, holding the `css_…` token) and a
//! pre-session nonce that anonymous forms (sign-in, enrollment) bind their CSRF token to.
//! Both HttpOnly, SameSite=Strict, Path=/, and Secure unless configured for plain http.

use crate::service::Context;
use axum::http::{header, HeaderMap, HeaderValue};

const SECURE_SESSION: &str = "__Host-countersign";
const PLAIN_SESSION: &str = "countersign";
const SECURE_NONCE: &str = "__Host-countersign-pre";
const PLAIN_NONCE: &str = "countersign-pre";

pub fn session_name(ctx: &Context) -> &'static str {
    if ctx.cookie_secure {
        SECURE_SESSION
    } else {
        PLAIN_SESSION
    }
}

pub fn nonce_name(ctx: &Context) -> &'static str {
    if ctx.cookie_secure {
        SECURE_NONCE
    } else {
        PLAIN_NONCE
    }
}

fn build(ctx: &Context, name: &str, value: &str, extra: &str) -> HeaderValue {
    let secure = if ctx.cookie_secure { "; Secure" } else { "" };
    let text = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict{secure}{extra}");
    // Values are our own base64url tokens; this cannot fail, but never panic on it.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `Set-Cookie` for a new session token. No Max-Age: the server enforces idle and absolute expiry.
pub fn set_session(ctx: &Context, token: &str) -> HeaderValue {
    build(ctx, session_name(ctx), token, "")
}

pub fn clear_session(ctx: &Context) -> HeaderValue {
    build(ctx, session_name(ctx), "", "; Max-Age=0")
}

pub fn set_nonce(ctx: &Context, nonce: &str) -> HeaderValue {
    build(ctx, nonce_name(ctx), nonce, "")
}

/// The value of a cookie sent by the browser.
pub fn read(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}
