//! `/ui/enroll/{token}`: a new approver's one-time link. Shows the QR code and the secret,
//! takes the new password and a first code; afterwards the link is spent.

use super::session::{check_anonymous, nonce, with_nonce, FlashQuery};
use super::{csrf, messages, render, see_other, Chrome, UiError, UiForm};
use crate::service::{enrollment, Context};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "enroll.html")]
struct EnrollPage {
    chrome: Chrome,
    token: String,
    username: String,
    qr_svg: String,
    secret: String,
    otpauth_uri: String,
    csrf: String,
}

/// Only well-formed tokens go back into a URL we build.
fn well_formed(token: &str) -> bool {
    token.len() < 100 && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub async fn page(
    State(ctx): State<Context>,
    headers: HeaderMap,
    Path(token): Path<String>,
    Query(query): Query<FlashQuery>,
) -> Result<Response, UiError> {
    let shown = enrollment::show(&ctx, &token).await?;
    let (nonce, cookie) = nonce(&ctx, &headers);
    let page = EnrollPage {
        chrome: Chrome::new("Enroll", query.m.as_deref(), None),
        token,
        username: shown.username,
        qr_svg: shown.qr_svg,
        secret: shown.secret_base32,
        otpauth_uri: shown.otpauth_uri,
        csrf: csrf::for_nonce(&ctx, &nonce),
    };
    with_nonce(render(&page), cookie)
}

#[derive(Deserialize)]
pub struct EnrollForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_again: String,
    #[serde(default)]
    totp: String,
}

pub async fn complete(
    State(ctx): State<Context>,
    headers: HeaderMap,
    Path(token): Path<String>,
    UiForm(form): UiForm<EnrollForm>,
) -> Result<Response, UiError> {
    check_anonymous(&ctx, &headers, &form.csrf)?;
    if !well_formed(&token) {
        return Err(crate::error::Error::not_found("enrollment link").into());
    }
    if form.password != form.password_again {
        return Ok(see_other(&format!("/ui/enroll/{token}?m=password_mismatch")));
    }
    match enrollment::complete(&ctx, &token, &form.password, &form.totp).await {
        Ok(_) => Ok(see_other("/ui/sign-in?m=enrolled")),
        Err(error) => Ok(see_other(&format!("/ui/enroll/{token}?m={}", messages::code_of(&error)))),
    }
}
