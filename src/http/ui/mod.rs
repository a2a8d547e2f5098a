//! The approver web form (`/ui/...`): server-rendered askama pages, POST then 303, a CSRF token
//! and an idempotency key in every form, no external assets, a strict CSP;
//! everything works without JavaScript (one same-origin script only adds the live window).
//! Handlers are thin: they call the same service functions as the JSON API (`decide`,
//! `approvers`) and never decide a rule themselves. Not part of the OpenAPI route table.

mod actions;
mod admin;
mod admin_forms;
mod batch;
pub(crate) mod cookies;
mod csrf;
mod digest;
mod enroll;
mod format;
mod history;
mod inbox;
mod live;
mod messages;
mod origin;
mod policy;
mod reads;
mod request;
mod request_words;
mod session;

use crate::error::Error;
use crate::service::Context;
use askama::Template;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;
use tower_http::set_header::SetResponseHeaderLayer;

// Scripts only from our own files (the live window, issue 16.3): no inline code, no eval; the
// script may only ask this site.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const APP_CSS: &str = include_str!("../../../templates/app.css");
const LIVE_JS: &str = include_str!("../../../templates/live.js");

/// The `/ui` routes with their security headers.
pub fn router() -> Router<Context> {
    let header = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value))
    };
    Router::new()
        .route("/ui", get(inbox::page))
        .route("/ui/sign-in", get(session::sign_in_page).post(session::sign_in))
        .route("/ui/sign-out", post(session::sign_out))
        .route("/ui/requests/{id}", get(request::page))
        .route("/ui/requests/{id}/approve", post(actions::approve))
        .route("/ui/requests/{id}/reject", post(actions::reject))
        .route("/ui/requests/{id}/edit", post(actions::edit))
        .route("/ui/requests/{id}/cancel-transfer", post(actions::cancel_transfer))
        .route("/ui/history", get(history::page))
        .route("/ui/history/{id}", get(history::trail))
        .route("/ui/enroll/{token}", get(enroll::page).post(enroll::complete))
        .route("/ui/static/app.css", get(stylesheet))
        .merge(admin::router())
        .route("/ui/reads", get(reads::page))
        .route("/ui/reads/{id}/approve", post(reads::approve))
        .route("/ui/reads/{id}/reject", post(reads::reject))
        .route("/ui/digest", get(digest::page))
        .route("/ui/digest/{id}/review", post(digest::review))
        .route("/ui/policy", get(policy::page))
        .route("/ui/batch", get(batch::confirm).post(batch::approve))
        .route("/ui/static/live.js", get(live_script))
        .route("/ui/requests/{id}/status", get(live::status))
        .layer(axum::middleware::from_fn(origin::refuse_cross_site_posts))
        .layer(header(header::CONTENT_SECURITY_POLICY, CSP))
        .layer(header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // Enrollment links carry a secret in the path: never leak it in a Referer to another site.
        // Not `no-referrer`: under it browsers send `Origin: null` on our own form posts, which the
        // cross-site check must refuse; `same-origin` sends our origin to us and nothing elsewhere.
        .layer(header(header::REFERRER_POLICY, "same-origin"))
        .layer(header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
}

async fn stylesheet() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "max-age=300")], APP_CSS)
        .into_response()
}

async fn live_script() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "max-age=300")], LIVE_JS)
        .into_response()
}

/// What every page's frame shows: title, the flash message, who is signed in, the sign-out form.
pub struct Chrome {
    pub title: String,
    pub flash: Option<messages::Flash>,
    /// Username and CSRF token of the signed-in approver.
    pub signed_in: Option<(String, String)>,
    pub form_key: String,
    /// Compliance officers get links to the audit export.
    pub compliance: bool,
    /// Admins get a link to the administration pages.
    pub admin: bool,
}

impl Chrome {
    pub fn new(title: impl Into<String>, flash: Option<&str>, signed_in: Option<(String, String)>) -> Self {
        Self {
            title: title.into(),
            flash: flash.and_then(messages::flash),
            signed_in,
            form_key: new_form_key(),
            compliance: false,
            admin: false,
        }
    }
}

/// A fresh idempotency key for one rendered form.
pub fn new_form_key() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Renders a template to an HTML response.
pub fn render(template: &impl Template) -> Result<Response, UiError> {
    let html = template.render().map_err(|e| UiError::from(Error::Internal(anyhow::anyhow!("template: {e}"))))?;
    Ok(Html(html).into_response())
}

/// POST then 303: always to a path on this site.
pub fn see_other(location: &str) -> Response {
    // Locations are built from parsed ids and fixed codes; still, never panic on a bad one.
    let value = HeaderValue::from_str(location).unwrap_or_else(|_| HeaderValue::from_static("/ui"));
    (StatusCode::SEE_OTHER, [(header::LOCATION, value)]).into_response()
}

/// An error shown as a page, never as JSON, never reflecting raw input.
#[derive(Debug)]
pub struct UiError {
    status: StatusCode,
    message: String,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    chrome: Chrome,
    heading: String,
    message: String,
}

impl UiError {
    pub fn csrf() -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            message: "This form expired or did not come from this site. Go back, reload the page and try again.".into(),
        }
    }

    pub fn bad_form() -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: "The form was incomplete or malformed. Reload and try again.".into(),
        }
    }
}

impl From<Error> for UiError {
    fn from(error: Error) -> Self {
        match error {
            Error::Client { status, message, .. } => Self { status, message },
            Error::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "internal error on the web form");
                Self {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    message: "Something went wrong on our side. Nothing was decided; try again.".into(),
                }
            }
        }
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let heading = self.status.canonical_reason().unwrap_or("Error").to_owned();
        let page = MessagePage { chrome: Chrome::new(heading.clone(), None, None), heading, message: self.message };
        match page.render() {
            Ok(html) => (self.status, Html(html)).into_response(),
            Err(_) => (self.status, "error").into_response(),
        }
    }
}

/// A urlencoded form whose rejection is our error page.
pub struct UiForm<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for UiForm<T> {
    type Rejection = UiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, UiError> {
        let (parts, body) = request.into_parts();
        let bytes = axum::body::to_bytes(body, crate::http::MAX_BODY_BYTES).await.map_err(|_| UiError::bad_form())?;
        // Same rule as the JSON API's strings; a textarea's lines arrive as CRLF, which is fine.
        let refused = url::form_urlencoded::parse(&bytes)
            .find(|(_, value)| !crate::domain::text::is_free_text(&value.replace("\r\n", "\n")));
        if let Some((name, _)) = refused {
            // Our forms' field names are short identifiers; anything else is not echoed back.
            let ours = name.len() <= 32 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            let field = if ours { format!("The field \"{name}\"") } else { "A field".to_owned() };
            return Err(UiError::from(Error::unprocessable(
                "invalid_characters",
                format!(
                    "{field} contains a control character or an invisible one (such as a bidi override \
                     or a zero-width space). Remove it and try again."
                ),
            )));
        }
        let request = Request::from_parts(parts, axum::body::Body::from(bytes));
        let axum::Form(value) = axum::Form::<T>::from_request(request, state).await.map_err(|_| UiError::bad_form())?;
        Ok(UiForm(value))
    }
}
