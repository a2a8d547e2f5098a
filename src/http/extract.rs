//! Extractors that own their rejections, so every malformed input gets our JSON error body.

use crate::auth::api_keys;
use crate::error::Error;
use crate::http::strict_json;
use crate::service::idempotency::IdempotencyKey;
use crate::service::Context;
use crate::store::admin::{self, KeyLookup};
use crate::store::agents::AgentRecord;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

/// The token of an `Authorization: Bearer …` header.
fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    Some(value.strip_prefix("Bearer ")?.trim())
}

/// An approver's `Authorization: Bearer css_…` session token, not yet looked up: for decisions
/// that read the session together with the request they decide on
/// (`approvers::authenticate_with_request`).
pub struct PresentedSession(pub String);

impl FromRequestParts<Context> for PresentedSession {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &Context) -> Result<Self, Error> {
        let presented = bearer(parts).ok_or_else(sign_in_first)?;
        Ok(PresentedSession(presented.to_owned()))
    }
}

fn sign_in_first() -> Error {
    Error::client(StatusCode::UNAUTHORIZED, "unauthorized", "sign in first: Authorization: Bearer css_...")
}

/// The calling agent, authenticated by `Authorization: Bearer cs_…`.
pub struct Agent(pub AgentRecord);

impl FromRequestParts<Context> for Agent {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, ctx: &Context) -> Result<Self, Error> {
        let PresentedKey(hash) = PresentedKey::from_request_parts(parts, ctx).await?;
        agent_of(admin::agent_by_key(ctx.store.reader(), &hash, crate::service::now_ms()).await?).map(Agent)
    }
}

/// The hash of a well-formed `Authorization: Bearer cs_…` key, not yet looked up: for routes
/// that look the key up together with what the call needs (the read gateway), then call
/// [`agent_of`].
pub struct PresentedKey(pub String);

impl FromRequestParts<Context> for PresentedKey {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &Context) -> Result<Self, Error> {
        let presented = bearer(parts).ok_or_else(Error::unauthorized)?;
        api_keys::hash_presented(presented).map(PresentedKey).ok_or_else(Error::unauthorized)
    }
}

/// The agent a key lookup found, or why the call is refused.
pub fn agent_of(lookup: KeyLookup) -> Result<AgentRecord, Error> {
    match lookup {
        KeyLookup::Active(agent) => Ok(agent),
        KeyLookup::Disabled => Err(Error::forbidden("agent_disabled", "this agent was disabled by an administrator")),
        KeyLookup::Expired => Err(Error::client(
            StatusCode::UNAUTHORIZED,
            "api_key_expired",
            "this API key was replaced by a rotation and its overlap has ended; use the new key",
        )),
        KeyLookup::Unknown => Err(Error::unauthorized()),
    }
}

/// The client's address, for sign-in throttling: the TCP peer, or — only when
/// `COUNTERSIGN_TRUST_FORWARDED_FOR` says a proxy in front sets it — the last
/// `X-Forwarded-For` entry (the one that proxy appended; earlier entries are the client's word).
pub struct ClientAddress(pub String);

impl FromRequestParts<Context> for ClientAddress {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, ctx: &Context) -> Result<Self, Error> {
        let forwarded = || {
            let header = parts.headers.get_all("x-forwarded-for").iter().next_back()?.to_str().ok()?;
            let last = header.rsplit(',').next()?.trim();
            last.parse::<std::net::IpAddr>().ok()
        };
        let peer =
            || parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|info| info.0.ip());
        let address = if ctx.trust_forwarded_for { forwarded().or_else(peer) } else { peer() };
        Ok(ClientAddress(address.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())))
    }
}

/// The required `Idempotency-Key` header of every POST.
pub struct Idempotency(pub IdempotencyKey);

impl<S: Send + Sync> FromRequestParts<S> for Idempotency {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        let value = parts.headers.get("idempotency-key").ok_or_else(|| {
            Error::bad_request("missing_idempotency_key", "this endpoint requires an Idempotency-Key header")
        })?;
        let text = value.to_str().unwrap_or("\u{0}");
        Ok(Idempotency(IdempotencyKey::parse(text)?))
    }
}

/// A JSON body: the raw value (for idempotency fingerprints) and the typed one.
pub struct JsonBody<T> {
    pub value: serde_json::Value,
    pub typed: T,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Error;

    async fn from_request(request: Request, state: &S) -> Result<Self, Error> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(strict_json::is_json_media_type);
        if !is_json {
            return Err(Error::client(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Error::client(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the request body is too large")
            } else {
                Error::bad_request("unreadable_body", "the request body could not be read")
            }
        })?;
        let value = strict_json::parse(&bytes)?;
        let typed = T::deserialize(&value).map_err(|e| {
            let message = e.to_string();
            let code = if message.starts_with("missing field") {
                "missing_field"
            } else if message.starts_with("unknown field") {
                "unknown_field"
            } else {
                "invalid_field"
            };
            Error::unprocessable(code, message)
        })?;
        Ok(JsonBody { value, typed })
    }
}

/// The signed-in approver, by `Authorization: Bearer css_…` (a session from `POST /v1/approver/sessions`)
/// or, for reads (GET) only, by the web form's session cookie — so a compliance officer signed in to
/// the web form can download exports and evidence. Reads change nothing and the cookie is
/// SameSite=Strict, so accepting it on GET opens no cross-site request forgery.
pub struct Approver(pub crate::service::approvers::ApproverSession);

impl FromRequestParts<Context> for Approver {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, ctx: &Context) -> Result<Self, Error> {
        let from_cookie = || {
            (parts.method == axum::http::Method::GET)
                .then(|| crate::http::ui::cookies::read(&parts.headers, crate::http::ui::cookies::session_name(ctx)))
                .flatten()
        };
        let presented = bearer(parts).map(str::to_owned).or_else(from_cookie).ok_or_else(sign_in_first)?;
        Ok(Approver(crate::service::approvers::authenticate(ctx, &presented).await?))
    }
}
