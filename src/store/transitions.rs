//! Whole transitions: everything one state change writes — its compare-and-set, its audit
//! records, its outbox messages and the agent's stored reply — handed to the store at once.
//!
//! On PostgreSQL that is ONE statement in autocommit: data-modifying CTEs hung off the
//! compare-and-set (`WITH moved AS (UPDATE … RETURNING …), audited AS (INSERT … SELECT … FROM
//! moved) …`). A statement is as atomic as a transaction, so the transition is one network
//! exchange and one durable commit instead of BEGIN, reads, writes and COMMIT. On SQLite it is one
//! write transaction through the writer, with no reads in it.
//!
//! The caller computes the records, messages and reply from the request as it read it, moved by
//! [`Changes::applied_to`]. So the compare-and-set also requires the row's `updated_at` to be the
//! one read (every write to a request sets it): what is written then describes exactly the row as
//! moved. Losing either comparison writes nothing and answers false; the caller then takes its
//! general path, which reads the request again inside a transaction.

use super::audit::AuditFields;
use super::outbox::{AGENT_CALLBACK, FAN_OUT, FAN_OUT_DESTINATION, PENDING};
use super::requests::{self, Bind, Changes};
use super::{Store, StoreError, StoreResult, Writer};
use crate::domain::{AgentId, ApproverId, RequestId, RequestState};
use sqlx::Row;

/// One state change of a request and everything it writes.
pub struct Whole<'a> {
    pub id: &'a RequestId,
    pub agent_id: &'a AgentId,
    pub from: RequestState,
    /// The request's `updated_at` as the caller read it.
    pub read_at: i64,
    pub to: RequestState,
    pub changes: &'a Changes,
    pub now_ms: i64,
    pub audit: Vec<AuditFields>,
    pub messages: Vec<Outgoing>,
    /// The reply stored under the agent's Idempotency-Key.
    pub reply: Option<StoredReply<'a>>,
    /// The approval that makes this move, if one does.
    pub approval: Option<Approval<'a>>,
}

/// An approval written with the move it makes: only by an approver still active (their row is
/// locked for the statement, as a deactivation takes it), spending its token once.
pub struct Approval<'a> {
    pub approver_id: &'a ApproverId,
    pub payload_hash: &'a str,
    pub step_up_at: Option<i64>,
    pub token_jti: &'a str,
}

/// An outbox message a transition writes, if someone would hear it.
pub enum Outgoing {
    /// To the request's agent at its callback URL, if it has one (and a signing secret).
    AgentCallback { id: String, event_type: String, payload: String },
    /// The team's fan-out: written when the team channel is set or any approver has a channel.
    FanOut { id: String, event_type: String, payload: String, team_channel: bool },
}

pub struct StoredReply<'a> {
    pub agent: &'a AgentId,
    pub key: &'a str,
    pub status: u16,
    pub body: &'a str,
}

/// Applies `whole`; false (and nothing written) when the request is no longer in `from` at
/// `read_at`, or the approving approver was deactivated. A unique violation (an approval or a
/// token already recorded) is an error, and nothing was written either.
pub async fn apply(store: &Store, whole: Whole<'_>) -> StoreResult<bool> {
    let (update, mut binds) = requests::transition_update(
        whole.id,
        &[whole.from],
        Some(whole.read_at),
        whole.to,
        whole.changes,
        whole.now_ms,
    );
    let writes = Writes::new(&whole, &mut binds)?;
    let approver = whole.approval.as_ref().map(|approval| approval.approver_id);
    run(store, &update, binds, &writes, approver, whole.audit).await
}

/// A new request and what it claims: the agent's Idempotency-Key (with the request linked to
/// it), the row and its audit records, written only if the key was not claimed before.
pub struct Proposal<'a> {
    /// No renewal and no successor: their unique indexes answer a second one with an error of
    /// the INSERT itself, which the general path turns into the caller's answer.
    pub request: requests::NewRequest<'a>,
    pub key: &'a str,
    pub fingerprint: &'a str,
    /// The claim's lease (as a claim by `store::idempotency::try_claim` takes it).
    pub locked_until: i64,
    pub audit: Vec<AuditFields>,
}

/// Writes `proposal` as one whole transition — one statement on PostgreSQL, one hand-off on
/// SQLite — guarded by its claim of the Idempotency-Key: the request as stored, or None (nothing
/// written) when the key was claimed before; the caller's general path then says whether to
/// replay, wait or resume.
pub async fn propose(store: &Store, proposal: Proposal<'_>) -> StoreResult<Option<requests::RequestRecord>> {
    let request = &proposal.request;
    if request.renews.is_some() || request.supersedes.is_some() {
        return Err(StoreError::Corrupt("a renewal or a successor is not proposed whole".into()));
    }
    let mut binds = vec![
        Bind::Text(request.agent_id.as_str().to_owned()),
        Bind::Text(proposal.key.to_owned()),
        Bind::Text(proposal.fingerprint.to_owned()),
        Bind::Int(proposal.locked_until),
        Bind::Int(request.now_ms),
        Bind::Text(request.id.as_str().to_owned()),
    ];
    let claim = "INSERT INTO idempotency_keys (agent_id, idempotency_key, fingerprint, locked_until, created_at, \
                 request_id) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (agent_id, idempotency_key) DO NOTHING";
    let writes = Writes { statements: vec![requests::insert_guarded(request, &mut binds)?] };
    let stored = request.as_stored();
    Ok(run(store, claim, binds, &writes, None, proposal.audit).await?.then_some(stored))
}

/// Runs a guard statement (a compare-and-set, a claim) and, only if it changed a row, `writes`
/// and `audit`: one statement in autocommit on PostgreSQL, one hand-off on SQLite. Whether the
/// guard won.
async fn run(
    store: &Store,
    guard: &str,
    mut binds: Vec<Bind>,
    writes: &Writes,
    approver: Option<&ApproverId>,
    audit: Vec<AuditFields>,
) -> StoreResult<bool> {
    let queued_audit = !audit.is_empty();
    match &store.writer {
        Writer::Postgres(pool) => {
            let sql = writes.as_one_statement(guard, approver, &audit, &mut binds)?;
            let row = requests::bind_all(sqlx::query(&sql), binds).fetch_one(pool).await?;
            let moved: i64 = row.try_get("moved")?;
            if moved == 0 {
                return Ok(false);
            }
            store.commits.inc();
            if queued_audit {
                store.queued.notify_one();
            }
            Ok(true)
        }
        Writer::Sqlite(_) => {
            match apply_sqlite(store, guard, binds.clone(), writes, approver, audit.clone(), true).await {
                Err(error) if super::sqlite_writer::is_stale_head(&error) => {
                    apply_sqlite(store, guard, binds, writes, approver, audit, false).await
                }
                outcome => outcome,
            }
        }
    }
}

/// SQLite: one batch, one hand-off to the writer — the compare-and-set, its outcome kept where
/// the statements after it can see it (`changes()` counts the rows the one before changed),
/// every write guarded by it, the audit records too, and the outcome read. `last_seen_head`:
/// chain the records after the head this process last saw (see `Tx::retries_stale_head`).
async fn apply_sqlite(
    store: &Store,
    update: &str,
    mut binds: Vec<Bind>,
    writes: &Writes,
    approver: Option<&ApproverId>,
    audit: Vec<AuditFields>,
    last_seen_head: bool,
) -> StoreResult<bool> {
    let mut tx = store.begin().await?;
    tx.retries_stale_head = last_seen_head;
    let mut update = update.to_owned();
    if let Some(approver) = approver {
        binds.push(Bind::Text(approver.as_str().to_owned()));
        update.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM approvers WHERE id = ${} AND disabled_at IS NULL)",
            binds.len()
        ));
    }
    // One parameter list numbers them all; each statement goes with the ones it uses.
    let (update, update_binds) = renumbered(&update, &binds);
    tx.write(requests::bind_all(sqlx::query(&update), update_binds)).await?;
    tx.write(sqlx::query("UPDATE temp.transition_won SET won = changes()")).await?;
    for statement in writes.statements(SQLITE_WON) {
        let (statement, statement_binds) = renumbered(&statement, &binds);
        tx.write(requests::bind_all(sqlx::query(&statement), statement_binds)).await?;
    }
    tx.write(sqlx::query("SELECT won FROM temp.transition_won")).await?;
    tx.audit_guard = Some(SQLITE_WON);
    for fields in audit {
        tx.append_audit(fields);
    }
    let rows = store.commit_returning(tx).await?;
    let won = rows.iter().find_map(|row| row.try_get::<i64, _>("won").ok());
    Ok(won.ok_or_else(|| StoreError::Corrupt("the transition's batch did not say if it won".into()))? == 1)
}

/// On SQLite, that the transition's compare-and-set changed its row (`temp.transition_won`, a
/// one-row table on the writer's connection).
const SQLITE_WON: &str = "(SELECT won FROM temp.transition_won) = 1";

/// Audit records of an action that changes nothing else (an approval token issued), committed on
/// their own: on PostgreSQL one INSERT in autocommit, on SQLite one transaction.
pub async fn audit_alone(store: &Store, records: Vec<AuditFields>) -> StoreResult<()> {
    match &store.writer {
        Writer::Postgres(pool) => {
            super::audit::insert_pending_alone(pool, &records).await?;
            store.commits.inc();
            store.queued.notify_one();
            Ok(())
        }
        Writer::Sqlite(_) => match audit_alone_sqlite(store, records.clone(), true).await {
            Err(error) if super::sqlite_writer::is_stale_head(&error) => {
                audit_alone_sqlite(store, records, false).await
            }
            outcome => outcome,
        },
    }
}

/// SQLite: the records in one transaction, one hand-off (`last_seen_head` as in `apply_sqlite`).
async fn audit_alone_sqlite(store: &Store, records: Vec<AuditFields>, last_seen_head: bool) -> StoreResult<()> {
    let mut tx = store.begin().await?;
    tx.retries_stale_head = last_seen_head;
    for fields in records {
        tx.append_audit(fields);
    }
    store.commit(tx).await
}

/// The INSERTs and UPDATEs a transition makes besides its compare-and-set, each guarded by a
/// condition that the compare-and-set won (`{won}`).
struct Writes {
    statements: Vec<String>,
}

/// Locks the approver's row while they are active (a deactivation takes the same lock; on
/// PostgreSQL — SQLite's one writer excludes the deactivation anyway).
const HOLD_ACTIVE_APPROVER: &str =
    "UPDATE approvers SET disabled_at = disabled_at WHERE id = $1 AND disabled_at IS NULL";

const OUTBOX_COLUMNS: &str = "id, channel, destination, agent_id, approver_id, request_id, event_type, payload, \
    dedup_key, state, attempts, next_attempt_at, created_at";

impl Writes {
    fn new(whole: &Whole<'_>, binds: &mut Vec<Bind>) -> StoreResult<Writes> {
        let mut param = |value: Bind| {
            binds.push(value);
            format!("${}", binds.len())
        };
        let request = param(Bind::Text(whole.id.as_str().to_owned()));
        let agent = param(Bind::Text(whole.agent_id.as_str().to_owned()));
        let now = param(Bind::Int(whole.now_ms));
        let pending = param(Bind::Text(PENDING.to_owned()));
        let mut statements = Vec::new();
        if let Some(approval) = &whole.approval {
            let approver = param(Bind::Text(approval.approver_id.as_str().to_owned()));
            statements.push(format!(
                "INSERT INTO used_approval_tokens (jti, approver_id, request_id, used_at) \
                 SELECT {}, {approver}, {request}, {now} WHERE {{won}}",
                param(Bind::Text(approval.token_jti.to_owned())),
            ));
            statements.push(format!(
                "INSERT INTO approvals (id, request_id, approver_id, decision, payload_hash, step_up_at, token_jti, \
                 created_at) SELECT {}, {request}, {approver}, 'approve', {}, {}, {}, {now} WHERE {{won}}",
                param(Bind::Text(format!("apv_{}", uuid::Uuid::now_v7().simple()))),
                param(Bind::Text(approval.payload_hash.to_owned())),
                param(Bind::MaybeInt(approval.step_up_at)),
                param(Bind::Text(approval.token_jti.to_owned())),
            ));
        }
        for message in &whole.messages {
            statements.push(match message {
                Outgoing::AgentCallback { id, event_type, payload } => format!(
                    "INSERT INTO outbox ({OUTBOX_COLUMNS}) SELECT {}, {}, a.callback_url, a.id, NULL, {request}, {}, {}, \
                     NULL, {pending}, 0, {now}, {now} FROM agents a WHERE a.id = {agent} \
                     AND a.callback_url IS NOT NULL AND a.callback_secret_enc IS NOT NULL AND {{won}}",
                    param(Bind::Text(id.clone())),
                    param(Bind::Text(AGENT_CALLBACK.to_owned())),
                    param(Bind::Text(event_type.clone())),
                    param(Bind::Text(payload.clone())),
                ),
                Outgoing::FanOut { id, event_type, payload, team_channel } => format!(
                    "INSERT INTO outbox ({OUTBOX_COLUMNS}) SELECT {}, {}, {}, NULL, NULL, {request}, {}, {}, \
                     NULL, {pending}, 0, {now}, {now} WHERE ({} = 1 OR EXISTS (SELECT 1 FROM approver_channels)) \
                     AND {{won}}",
                    param(Bind::Text(id.clone())),
                    param(Bind::Text(FAN_OUT.to_owned())),
                    param(Bind::Text(FAN_OUT_DESTINATION.to_owned())),
                    param(Bind::Text(event_type.clone())),
                    param(Bind::Text(payload.clone())),
                    param(Bind::Int(i64::from(*team_channel))),
                ),
            });
        }
        if let Some(reply) = &whole.reply {
            statements.push(format!(
                "UPDATE idempotency_keys SET response_status = {}, response_body = {} \
                 WHERE agent_id = {} AND idempotency_key = {} AND {{won}}",
                param(Bind::Int(i64::from(reply.status))),
                param(Bind::Text(reply.body.to_owned())),
                param(Bind::Text(reply.agent.as_str().to_owned())),
                param(Bind::Text(reply.key.to_owned())),
            ));
        }
        Ok(Writes { statements })
    }

    /// The statements with their guard filled in.
    fn statements(&self, won: &str) -> Vec<String> {
        self.statements.iter().map(|s| s.replace("{won}", won)).collect()
    }

    /// PostgreSQL: the compare-and-set and every write in one statement. The audit records are
    /// queued for the chainer in their order (`ORDER BY` numbers them as the serial is drawn).
    fn as_one_statement(
        &self,
        update: &str,
        approver: Option<&ApproverId>,
        audit: &[AuditFields],
        binds: &mut Vec<Bind>,
    ) -> StoreResult<String> {
        let mut sql = match approver {
            Some(approver) => {
                binds.push(Bind::Text(approver.as_str().to_owned()));
                let hold = HOLD_ACTIVE_APPROVER.replace("$1", &format!("${}", binds.len()));
                format!(
                    "WITH active AS ({hold} RETURNING id), \
                     moved AS ({update} AND EXISTS (SELECT 1 FROM active) RETURNING 1 AS won)"
                )
            }
            None => format!("WITH moved AS ({update} RETURNING 1 AS won)"),
        };
        let writes = self.statements("EXISTS (SELECT 1 FROM moved)");
        for (n, statement) in writes.iter().enumerate() {
            sql.push_str(&format!(", w{n} AS ({statement})"));
        }
        if !audit.is_empty() {
            let mut rows = Vec::new();
            for (n, fields) in audit.iter().enumerate() {
                binds.push(Bind::Text(serde_json::to_string(fields).map_err(|e| StoreError::Corrupt(e.to_string()))?));
                rows.push(format!("({n}, ${})", binds.len()));
            }
            sql.push_str(&format!(
                ", audited AS (INSERT INTO audit_pending (fields) SELECT r.v FROM moved, (VALUES {}) AS r(n, v) ORDER BY r.n)",
                rows.join(", ")
            ));
        }
        sql.push_str(" SELECT COUNT(*) AS moved FROM moved");
        Ok(sql)
    }
}

/// `sql` and the parameters it uses, renumbered from $1 in order of first use: SQLite's
/// statements here each use some of one shared, numbered parameter list.
fn renumbered(sql: &str, binds: &[Bind]) -> (String, Vec<Bind>) {
    let mut out = String::with_capacity(sql.len());
    let mut used: Vec<usize> = Vec::new();
    let mut chars = sql.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        let mut digits = String::new();
        while c == '$' && chars.peek().is_some_and(|(_, d)| d.is_ascii_digit()) {
            digits.extend(chars.next().map(|(_, d)| d));
        }
        match digits.parse::<usize>() {
            Ok(n) => {
                let position = used.iter().position(|&u| u == n).unwrap_or_else(|| {
                    used.push(n);
                    used.len() - 1
                });
                out.push_str(&format!("${}", position + 1));
            }
            Err(_) => out.push(c),
        }
    }
    let binds = used.iter().filter_map(|&n| binds.get(n - 1).cloned()).collect();
    (out, binds)
}
