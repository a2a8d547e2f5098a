//! Approver groups: set by the operator (`countersign approver add --groups finance,ops`), and
//! enforced when an approval is recorded: a request whose policy names groups ("one of finance
//! and one of ops") takes approvals only from people who can fill a slot still open.

use super::now_ms;
use crate::audit;
use crate::domain::policy::groups::approvers_fit;
use crate::domain::ApproverId;
use crate::error::{Error, Result};
use crate::store::requests::RequestRecord;
use crate::store::{approvals, approver_groups, Store, Tx};

/// Group names: lowercase letters, digits, `-` and `_`, 1 to 32 characters.
pub fn parse_groups(list: &[String]) -> Result<Vec<String>> {
    let mut groups: Vec<String> = Vec::new();
    for name in list.iter().map(|g| g.trim().to_lowercase()).filter(|g| !g.is_empty()) {
        let valid = name.len() <= 32 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(Error::bad_request(
                "invalid_group",
                format!("{name:?}: use letters, digits, - and _ (at most 32)"),
            ));
        }
        if !groups.contains(&name) {
            groups.push(name);
        }
    }
    Ok(groups)
}

/// Gives an approver their groups (replacing any), audited.
pub async fn set(store: &Store, id: &ApproverId, groups: &[String]) -> Result<()> {
    let mut tx = store.begin().await?;
    if !approver_groups::set(&mut tx, id, groups).await? {
        return Err(Error::not_found("approver"));
    }
    let fields = super::approvers::approver_event("approver.groups_set", Some(id), "success", None, now_ms());
    audit::append(&mut tx, fields).await?;
    store.commit(tx).await?;
    Ok(())
}

/// Refuses an approval by `approver` when, with the approvals already counted for the pinned
/// hash, the request's groups could no longer be filled one slot per approver. Checked in the
/// transaction that records the approval (the request row is locked).
pub async fn check_may_fill(tx: &mut Tx, record: &RequestRecord, approver: &ApproverId, pinned: &str) -> Result<()> {
    if record.approver_groups.is_empty() {
        return Ok(());
    }
    let earlier = approvals::for_request_in(tx, &record.id).await?;
    check_against(tx.conn().await?, record, &earlier, approver, pinned).await
}

/// The same check before a step-up code is spent on an approval that would be refused anyway
/// (`approve` checks again under the lock).
pub async fn check_early(store: &Store, record: &RequestRecord, approver: &ApproverId, pinned: &str) -> Result<()> {
    if record.approver_groups.is_empty() {
        return Ok(());
    }
    let earlier = approvals::for_request(store.reader(), &record.id).await?;
    let mut conn = store.reader().acquire().await.map_err(crate::store::StoreError::from)?;
    check_against(&mut conn, record, &earlier, approver, pinned).await
}

async fn check_against(
    conn: &mut sqlx::AnyConnection,
    record: &RequestRecord,
    earlier: &[approvals::ApprovalRecord],
    approver: &ApproverId,
    pinned: &str,
) -> Result<()> {
    let mut ids: Vec<&str> =
        earlier.iter().filter(|a| a.payload_hash == pinned).map(|a| a.approver_id.as_str()).collect();
    ids.push(approver.as_str());
    let groups = approver_groups::of(conn, &ids).await?;
    if approvers_fit(&record.approver_groups, &groups) {
        return Ok(());
    }
    let yours = groups.last().map(|g| g.join(", ")).filter(|g| !g.is_empty()).unwrap_or_else(|| "none".into());
    Err(Error::forbidden(
        "approver_group_required",
        format!(
            "this request needs approvals from the groups {}; your groups ({yours}) cannot fill a slot still open",
            record.approver_groups.join(" and ")
        ),
    ))
}
