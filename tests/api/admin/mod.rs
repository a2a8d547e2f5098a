//! Administration over the JSON API (`/v1/admin/...`) and the CLI: who may, what each change
//! does, and its audit records.

mod agents;
mod approvers;
mod authorization;

use crate::helpers::{body, TestApp, TestApprover};
use reqwest::StatusCode;
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Signed-in admins, a new one for every change: each change needs a fresh TOTP code, and one
/// person gets only about two fresh codes per 30-second step (sign-in and one change).
pub struct Admins<'a> {
    app: &'a TestApp,
    made: AtomicUsize,
}

pub struct Admin {
    pub person: TestApprover,
    pub session: String,
}

impl<'a> Admins<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self { app, made: AtomicUsize::new(0) }
    }

    pub async fn next(&self) -> Admin {
        let n = self.made.fetch_add(1, Ordering::SeqCst);
        let person = self.app.add_approver(&format!("admin-{n}"), "admin", None).await;
        let session = self.app.sign_in(&person).await;
        Admin { person, session }
    }

    /// A change by a fresh admin with a fresh code; returns the admin (for the audit) and the answer.
    pub async fn change(&self, path: &str, mut payload: Value) -> (Admin, StatusCode, Value) {
        let admin = self.next().await;
        payload["totp"] = admin.person.next_code().await.into();
        let (status, value) = body(self.app.approver_post(&admin.session, path, payload).await).await;
        (admin, status, value)
    }
}

/// `GET` with a bearer credential (an approver session or an agent's API key).
pub async fn get(app: &TestApp, bearer: &str, path: &str) -> (StatusCode, Value) {
    body(app.client.get(format!("{}{path}", app.address)).bearer_auth(bearer).send().await.expect("sent")).await
}

/// Whether the trail holds a successful `event` naming this approver as `approver_id`.
pub async fn audited(app: &TestApp, event: &str, approver_id: &str) -> bool {
    app.audit_rows().await.iter().any(|row| {
        row.fields.event_type == event
            && row.fields.outcome == "success"
            && row.fields.approver_id.as_deref() == Some(approver_id)
    })
}
