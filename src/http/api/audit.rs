//! Compliance reads: the streamed audit export and per-transfer evidence.

use crate::audit::export::ExportFormat;
use crate::domain::RequestId;
use crate::error::{Error, Result};
use crate::http::extract::Approver;
use crate::service::{audit_export, evidence, now_ms, parse_rfc3339_ms, Context};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
pub struct ExportQuery {
    from: Option<String>,
    to: Option<String>,
    format: Option<String>,
}

fn time_param(name: &str, value: Option<&str>, default: i64) -> Result<i64> {
    match value {
        None => Ok(default),
        Some(text) => parse_rfc3339_ms(text)
            .ok_or_else(|| Error::bad_request("invalid_time", format!("`{name}` must be an RFC 3339 time"))),
    }
}

/// `GET /v1/audit/export?from=&to=&format=csv|jsonl`. The checkpoint of the last exported record
/// is in the `Countersign-Checkpoint-*` headers (both formats) and, for JSON Lines, the last line.
pub async fn export(
    State(ctx): State<Context>,
    Approver(who): Approver,
    query: Result<Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response> {
    audit_export::require_compliance(&who)?;
    let Query(query) = query.map_err(|e| Error::bad_request("invalid_query", e.body_text()))?;
    let format = ExportFormat::parse(query.format.as_deref().unwrap_or("jsonl"))
        .ok_or_else(|| Error::bad_request("invalid_format", "`format` must be csv or jsonl"))?;
    let from = time_param("from", query.from.as_deref(), 0)?;
    let to = time_param("to", query.to.as_deref(), now_ms())?;
    let plan = audit_export::plan(&ctx, Some(&who), from, to, format).await?;
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    if let Some(checkpoint) = &plan.checkpoint {
        let pairs = [
            ("countersign-checkpoint-seq", checkpoint.seq.to_string()),
            ("countersign-checkpoint-hash", checkpoint.hash.clone()),
            ("countersign-checkpoint-signed-at", checkpoint.signed_at.clone()),
            ("countersign-checkpoint-signature", checkpoint.signature.clone()),
            ("countersign-checkpoint-public-key", checkpoint.public_key.clone()),
        ];
        for (name, value) in pairs {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
    }
    let body = Body::from_stream(audit_export::stream(ctx.store.clone(), plan));
    Ok((headers, body).into_response())
}

/// `GET /v1/transfers/{id}/evidence`.
pub async fn transfer_evidence(
    State(ctx): State<Context>,
    Approver(who): Approver,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let id = RequestId::parse(&id).ok_or_else(|| Error::not_found("transfer request"))?;
    Ok(Json(evidence::evidence(&ctx, &who, &id).await?))
}
