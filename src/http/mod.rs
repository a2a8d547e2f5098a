//! HTTP faces: the agent API (`api/`) and ops endpoints. Handlers are thin: parse input into
//! domain types, call one service function, render. No SQL and no rules here.

mod access;
pub mod api;
pub mod extract;
pub mod ops;
mod strict_json;
pub mod ui;
pub mod webhooks;

use crate::error::{Error, ErrorBody};
use crate::service::Context;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Proposals are small; anything bigger is a mistake or an attack.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Every route, as (method, path) — the table the OpenAPI drift test compares with `openapi.yaml`.
pub struct Routes {
    router: Router<Context>,
    table: Vec<(&'static str, &'static str)>,
}

impl Routes {
    fn new() -> Self {
        Self { router: Router::new(), table: Vec::new() }
    }

    fn add(mut self, method: &'static str, path: &'static str, handler: MethodRouter<Context>) -> Self {
        self.table.push((method, path));
        self.router = self.router.route(path, handler);
        self
    }

    pub fn table(&self) -> &[(&'static str, &'static str)] {
        &self.table
    }
}

pub fn routes() -> Routes {
    use crate::domain::reads::ReadProduct;
    use api::{approvals, audit, items, transfers};
    use axum::routing::delete;
    Routes::new()
        .add("get", "/healthz", get(ops::healthz))
        .add("get", "/readyz", get(ops::readyz))
        .add("get", "/metrics", get(ops::metrics))
        .add("get", "/v1/items", get(items::list))
        .add("post", "/v1/transfers", post(transfers::propose))
        .add("get", "/v1/transfers", get(transfers::list))
        .add("get", "/v1/transfers/{id}", get(transfers::get))
        .add("post", "/v1/transfers/{id}/cancel", post(transfers::cancel))
        .add("post", "/v1/transfers/{id}/resume", post(transfers::resume))
        .add("post", "/v1/transfers/{id}/renew", post(transfers::renew))
        .add("post", "/v1/transfers/{id}/approval-token", post(approvals::approval_token))
        .add("post", "/v1/transfers/{id}/approve", post(approvals::approve))
        .add("post", "/v1/transfers/{id}/reject", post(approvals::reject))
        .add("post", "/v1/transfers/{id}/edit", post(approvals::edit))
        .add("post", "/v1/approver/sessions", post(approvals::sign_in))
        .add("delete", "/v1/approver/sessions/current", delete(approvals::sign_out))
        .add("get", "/v1/approver/transfers", get(approvals::inbox))
        .add("get", "/v1/approver/transfers/{id}", get(approvals::show))
        .add("get", "/v1/audit/export", get(audit::export))
        .add("get", "/v1/transfers/{id}/evidence", get(audit::transfer_evidence))
        .add("post", "/webhooks/plaid", post(webhooks::plaid))
        .add("get", "/v1/admin/approvers", get(api::admin::list_approvers))
        .add("post", "/v1/admin/approvers", post(api::admin::add_approver))
        .add("post", "/v1/admin/approvers/{id}/disable", post(api::admin::disable_approver))
        .add("post", "/v1/admin/approvers/{id}/reset-totp", post(api::admin::reset_totp))
        .add("post", "/v1/admin/approvers/{id}/unlock", post(api::admin::unlock_approver))
        .add("post", "/v1/admin/approvers/{id}/revoke-sessions", post(api::admin::revoke_sessions))
        .add("get", "/v1/admin/agents", get(api::admin::list_agents))
        .add("post", "/v1/admin/agents", post(api::admin::add_agent))
        .add("post", "/v1/admin/agents/{id}/rotate-key", post(api::admin::rotate_key))
        .add("post", "/v1/admin/agents/{id}/disable", post(api::admin::disable_agent))
        .add("post", "/v1/admin/agents/{id}/items", post(api::admin::set_agent_items))
        .add("get", "/v1/admin/items", get(api::admin::list_items))
        .add("post", "/v1/plaid/accounts/get", api::plaid::route(ReadProduct::Accounts))
        .add("post", "/v1/plaid/accounts/balance/get", api::plaid::route(ReadProduct::Balance))
        .add("post", "/v1/plaid/transactions/sync", api::plaid::route(ReadProduct::Transactions))
        .add("post", "/v1/plaid/investments/holdings/get", api::plaid::route(ReadProduct::Investments))
        .add("post", "/v1/plaid/liabilities/get", api::plaid::route(ReadProduct::Liabilities))
        .add("post", "/v1/plaid/identity/get", api::plaid::route(ReadProduct::Identity))
        .add("post", "/v1/plaid/auth/get", api::plaid::route(ReadProduct::Auth))
        .add("post", "/v1/plaid/reads/{id}", post(api::plaid::fetch))
        .add("post", "/v1/approver/reads/{id}/approve", post(api::plaid::approve))
        .add("post", "/v1/approver/reads/{id}/reject", post(api::plaid::reject))
}

pub fn router(ctx: Context) -> Router {
    let metrics = ctx.metrics.clone();
    routes()
        .router
        // The approver web form: HTML pages, not part of the JSON API's route table.
        .merge(ui::router())
        .fallback(|| async { Error::not_found("route") })
        .method_not_allowed_fallback(|| async {
            Error::client(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this method is not allowed here")
        })
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                // The span carries no path: a raw path can hold a secret (an enrollment token).
                .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
                    let id = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
                    tracing::info_span!("http", method = %request.method(), request_id = %id)
                }))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(middleware::from_fn_with_state(metrics, access::observe))
                .layer(middleware::from_fn(attach_request_id))
                .layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
        )
        .with_state(ctx)
}

/// Puts the request id into every error body, so an agent can quote it.
async fn attach_request_id(request: Request, next: Next) -> Response {
    let id = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let response = next.run(request).await;
    match response.extensions().get::<ErrorBody>().cloned() {
        Some(body) => {
            // Status, headers (Retry-After, RateLimit-*) and extensions stay as the handler set them.
            let (mut parts, _) = response.into_parts();
            parts.headers.remove(axum::http::header::CONTENT_LENGTH);
            let json = body.to_json(id.as_deref()).to_string();
            Response::from_parts(parts, axum::body::Body::from(json))
        }
        None => response,
    }
}
