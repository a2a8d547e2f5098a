//! SQLite's one writer, with group commit.
//!
//! SQLite runs one write transaction at a time, and a durable COMMIT (an fsync of the WAL) costs
//! more than all the statements before it (measured under the benchmark's load: ~650 of ~1,100
//! µs a transaction). So write transactions that queue behind one another share one physical
//! transaction: each runs inside its own savepoint, and the last of the group — the one that
//! finds nobody queued behind it — commits for all of them.
//!
//! Each statement sqlx runs is a message to the connection's thread and a wake-up back (a
//! hand-off), and under load the task holding the writer waits to be polled between them. So a
//! member's statements wait in a batch and go to the writer's thread together as one
//! multi-statement query (SQLite binds each `$n` by its number across the statements): with the
//! next statement whose result the caller reads, or with its commit. A transaction that only
//! writes — a whole transition, its audit records, its SAVEPOINT, the group's BEGIN, its COMMIT —
//! is one hand-off. To chain audit records without a read first, the writer keeps the chain head
//! as its last batch left it (every batch that writes records ends by reading it); inside a group
//! that is the head, since the group holds SQLite's write lock.
//!
//! What never changes: a caller's `commit` returns only after the COMMIT that covers its writes,
//! so nothing it reports is lost on power failure; a member that fails or is dropped rolls back
//! to its own savepoint (released when it finishes, so a batch that fails before its own SAVEPOINT
//! ran can never roll back another's) and leaves the others' writes alone; a COMMIT that fails
//! fails every member. Nothing a member wrote is visible to other connections before that COMMIT.
//!
//! This is SQLite's single process-local writer, so the lock here is in-process by nature; on
//! PostgreSQL every transaction is its own and the database does its own group commit.

use super::{prepare_sqlite_connection, StoreError, StoreResult};
use prometheus_client::metrics::counter::Counter;
use sqlx::any::{AnyArguments, AnyConnectOptions, AnyRow};
use sqlx::{AnyConnection, ConnectOptions, Executor, Row};
use sqlx_core::any::{AnyArgumentBuffer, AnyValueKind};
use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, Mutex, OwnedMutexGuard};

/// After this long without its group committing, a member commits the group itself. Only a
/// member whose successor vanished without ending the group (a runtime shutting down) waits it.
const ORPHANED_GROUP: Duration = Duration::from_millis(500);

/// As long as a transaction waits for the writer before giving up (the pools' acquire timeout).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// A group commits once it has this many members, or once its first finished member has waited
/// this long, even with more queued: under steady load the queue never empties, and no member
/// may wait on it for long (nor another process on SQLite's file lock).
const MAX_GROUP: usize = 16;
const MAX_GROUP_WAIT: Duration = Duration::from_millis(5);

pub struct Writer {
    state: Arc<Mutex<State>>,
    /// Transactions waiting to start. A member that commits while this is non-zero leaves the
    /// COMMIT to them.
    queued: Arc<AtomicUsize>,
}

struct State {
    conn: AnyConnection,
    /// A physical transaction is open.
    open: bool,
    /// Members that have finished their work and wait for the group's COMMIT.
    waiting: Vec<oneshot::Sender<Result<(), String>>>,
    /// When the first of them started waiting.
    waiting_since: Option<Instant>,
    /// Physical COMMITs: one per group.
    physical: Counter,
    /// Messages to the writer's thread (hand-offs): members' batches and statements, and the
    /// writer's own ROLLBACKs and COMMITs sent alone.
    handoffs: Counter,
    /// The audit chain head as last read or written by this connection (`HEAD_PROBE`).
    head: Option<(i64, String)>,
    /// `head` was read inside the open group, under SQLite's write lock: it is the head.
    head_checked: bool,
}

impl Writer {
    pub async fn connect(
        options: &AnyConnectOptions,
        sync: super::SqliteSync,
        physical: Counter,
        handoffs: Counter,
    ) -> StoreResult<Writer> {
        let mut conn = options.connect().await?;
        prepare_sqlite_connection(&mut conn, sync).await?;
        // Where a whole transition's compare-and-set leaves its outcome for the statements after
        // it in the same batch (`transitions`). TEMP: this connection's own, never on disk.
        conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS transition_won (won INTEGER NOT NULL); \
             INSERT INTO temp.transition_won (won) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM temp.transition_won)",
        )
        .await?;
        let state = State {
            conn,
            open: false,
            waiting: Vec::new(),
            waiting_since: None,
            physical,
            handoffs,
            head: None,
            head_checked: false,
        };
        Ok(Writer { state: Arc::new(Mutex::new(state)), queued: Arc::new(AtomicUsize::new(0)) })
    }

    /// Runs migrations on the writer connection, outside any group.
    pub async fn migrate(&self, migrator: &sqlx::migrate::Migrator) -> StoreResult<()> {
        let mut state = self.state.clone().lock_owned().await;
        finish_group(&mut state).await?;
        migrator.run(&mut state.conn).await?;
        Ok(())
    }

    /// Starts a transaction: joins the open group, or opens one with `BEGIN IMMEDIATE`; either
    /// goes to the database with the member's first hand-off. `solo` transactions commit on
    /// their own, never leaving their COMMIT to the next.
    pub async fn begin(&self, solo: bool) -> StoreResult<Member> {
        let queued = Queued::enter(self);
        let mut state = tokio::time::timeout(ACQUIRE_TIMEOUT, self.state.clone().lock_owned())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?;
        queued.leave();
        let mut batch = Batch::default();
        let opening = if state.open {
            Opening::Savepoint
        } else {
            // The write lock up front, so a transaction that reads before it writes can't fail
            // to upgrade. Whatever the chain head was, another process may have moved it since
            // this process last held the lock.
            batch.push_plain("BEGIN IMMEDIATE");
            state.open = true;
            state.head_checked = false;
            Opening::Group
        };
        batch.push_plain("SAVEPOINT member");
        if opening == Opening::Group {
            // Learnt with the member's first hand-off, at no cost of its own.
            batch.push_plain(HEAD_PROBE);
        }
        let opening_len = batch.sql.len();
        Ok(Member {
            state: Some(state),
            writer: self.shared(),
            solo,
            batch,
            unsent: Some(opening),
            opening_len,
            returned: Vec::new(),
        })
    }

    /// Transactions waiting for the writer now.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }

    fn shared(&self) -> Writer {
        Writer { state: self.state.clone(), queued: self.queued.clone() }
    }

    /// Commits whatever group is open and finished (the member that should have did not).
    async fn flush(&self) {
        let mut state = self.state.clone().lock_owned().await;
        let _ = finish_group(&mut state).await;
    }
}

/// Counts a transaction as queued while it waits for the writer; if it gives up waiting (its
/// task was cancelled), whoever counted on it to end the group is covered by a flush.
struct Queued<'w> {
    writer: &'w Writer,
    counted: bool,
}

impl<'w> Queued<'w> {
    fn enter(writer: &'w Writer) -> Self {
        writer.queued.fetch_add(1, Ordering::SeqCst);
        Queued { writer, counted: true }
    }

    fn leave(mut self) {
        self.writer.queued.fetch_sub(1, Ordering::SeqCst);
        self.counted = false;
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        if self.counted {
            self.writer.queued.fetch_sub(1, Ordering::SeqCst);
            let writer = self.writer.shared();
            spawn(async move { writer.flush().await });
        }
    }
}

/// One transaction of a group, holding the writer until it commits or is dropped.
///
/// Its statements wait in a [`Batch`] and go to the writer's thread together: with the next
/// statement whose result the caller reads ([`Member::connection`], [`Member::send`]) or with
/// its commit. A transaction that only writes is therefore one hand-off, its SAVEPOINT (and the
/// group's BEGIN) and COMMIT included.
pub struct Member {
    state: Option<OwnedMutexGuard<State>>,
    writer: Writer,
    solo: bool,
    batch: Batch,
    /// This member's SAVEPOINT is still waiting in `batch` (and the group's BEGIN, if it opened
    /// the group): nothing of it reached the database yet.
    unsent: Option<Opening>,
    /// The length of the opening at the start of `batch`.
    opening_len: usize,
    /// Rows its statements returned in hand-offs the writer made on its own (reading the chain
    /// head): the caller gets them from `commit`.
    returned: Vec<AnyRow>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Opening {
    /// BEGIN IMMEDIATE and SAVEPOINT: this member opens the group.
    Group,
    /// SAVEPOINT only: it joins the open group.
    Savepoint,
}

/// The chain head as the writer last read it inside its transaction (`audit_head`; SQLite's
/// trigger moves it with every inserted record). Ended by every batch that writes audit records.
pub const HEAD_PROBE: &str = "SELECT seq AS head_seq, hash AS head_hash FROM audit_head WHERE id = 1";

impl Member {
    // `state` is taken only by `commit` (which consumes the member) and by `Drop`, so a member
    // anyone can still reach always holds the writer.
    fn state(&mut self) -> &mut State {
        match self.state.as_mut() {
            Some(state) => state,
            None => unreachable!("a live member holds the writer"),
        }
    }

    /// Adds a statement to the next hand-off.
    pub fn defer(&mut self, query: super::AnyQuery<'_>) -> StoreResult<()> {
        self.batch.push_query(query)
    }

    /// The connection for a statement whose result the caller reads (one hand-off), after the
    /// statements waiting in the batch (another, if there are any).
    pub async fn connection(&mut self) -> StoreResult<&mut AnyConnection> {
        self.send().await?;
        let state = self.state();
        state.handoffs.inc();
        Ok(&mut state.conn)
    }

    /// Runs `query` after the statements waiting, all in one hand-off, and returns its rows.
    pub async fn fetch(&mut self, query: super::AnyQuery<'_>) -> StoreResult<Vec<AnyRow>> {
        self.batch.push_query(query)?;
        let mut rows = self.send().await?;
        // Waiting statements are writes (no rows) and head probes (the writer's).
        rows.retain(|row| !is_head(row));
        Ok(rows)
    }

    /// Runs `queries` after the statements waiting, all in one hand-off: each one's rows.
    pub async fn fetch_each(&mut self, queries: Vec<super::AnyQuery<'_>>) -> StoreResult<Vec<Vec<AnyRow>>> {
        let count = queries.len();
        for query in queries {
            self.batch.push_query(query)?;
            self.batch.push_plain(BOUNDARY);
        }
        let rows = self.send().await?;
        let mut each = vec![Vec::new()];
        for row in rows.into_iter().filter(|row| !is_head(row)) {
            if row.try_column("end_of_statement").is_ok() {
                each.push(Vec::new());
            } else if let Some(current) = each.last_mut() {
                current.push(row);
            }
        }
        each.truncate(count);
        Ok(each)
    }

    /// Sends the waiting statements in one hand-off; the rows any of them returned.
    pub async fn send(&mut self) -> StoreResult<Vec<AnyRow>> {
        if self.batch.is_empty() {
            return Ok(Vec::new());
        }
        let batch = std::mem::take(&mut self.batch);
        // From here on, what the batch began is the database's: a failure is undone by `Drop`'s
        // ROLLBACK TO (or, if even the SAVEPOINT failed, by abandoning the group).
        self.unsent = None;
        let state = self.state();
        state.handoffs.inc();
        let rows = batch.run(&mut state.conn).await?;
        state.note_head(&rows);
        Ok(rows)
    }

    /// The audit chain head, if the writer knows it for certain without asking: read inside the
    /// open group, which holds SQLite's write lock (no other process can have moved it since).
    /// With `or_last_seen`, also the head as this process last saw it before the group, which
    /// another process may have moved since: records chained after a moved head collide with
    /// the rows at their seq (`is_stale_head`), and nothing of the transaction is written.
    pub fn known_head(&mut self, or_last_seen: bool) -> Option<(i64, String)> {
        let state = self.state();
        if state.head_checked || or_last_seen {
            state.head.clone()
        } else {
            None
        }
    }

    /// Sends the batch with the head probe at its end: the head as of this member's writes.
    pub async fn read_head(&mut self) -> StoreResult<(i64, String)> {
        self.batch.push_plain(HEAD_PROBE);
        let rows = self.send().await?;
        self.returned.extend(rows);
        self.known_head(false).ok_or_else(|| StoreError::Corrupt("audit_head has no row".into()))
    }

    /// Returns once the COMMIT covering this member's writes has succeeded, with the rows its
    /// waiting statements returned. A member with company queued behind it leaves the COMMIT to
    /// them; otherwise the COMMIT goes in the same hand-off as its statements.
    pub async fn commit(mut self) -> StoreResult<Vec<AnyRow>> {
        if self.unsent.is_some() && self.batch.sql.len() == self.opening_len {
            // It wrote nothing and nothing of it reached the database: nothing to commit
            // (`Drop` closes what the opening would have opened).
            self.batch = Batch::default();
            return Ok(Vec::new());
        }
        self.commit_sent().await
    }

    async fn commit_sent(mut self) -> StoreResult<Vec<AnyRow>> {
        let queued = self.writer.queued.load(Ordering::SeqCst) > 0;
        let state = self.state();
        let young = state.waiting_since.is_none_or(|since| since.elapsed() < MAX_GROUP_WAIT);
        let room = state.waiting.len() + 1 < MAX_GROUP;
        let join = !self.solo && young && room && queued;
        self.batch.push_plain("RELEASE member");
        if !join {
            self.batch.push_plain("COMMIT");
        }
        let sent = self.send().await;
        let mut state = self.state.take().ok_or_else(finished)?;
        let rows = match sent {
            Ok(rows) => std::mem::take(&mut self.returned).into_iter().chain(rows).collect(),
            Err(error) => {
                fail_member(&mut state, self.writer.queued.load(Ordering::SeqCst)).await;
                return Err(error);
            }
        };
        if join {
            let (done, result) = oneshot::channel();
            state.waiting.push(done);
            state.waiting_since.get_or_insert_with(Instant::now);
            drop(state);
            self.writer.await_group(result).await?;
        } else {
            state.committed();
        }
        Ok(rows)
    }
}

/// Ends a statement's rows in [`Member::fetch_each`].
const BOUNDARY: &str = "SELECT 1 AS end_of_statement";

/// A row of [`HEAD_PROBE`].
fn is_head(row: &AnyRow) -> bool {
    row.try_column("head_seq").is_ok()
}

/// A batch failed because records were chained after a head another process had moved since
/// (see [`Member::known_head`]); running the transaction again reads the head first.
pub fn is_stale_head(error: &StoreError) -> bool {
    matches!(error, StoreError::Database(error) if error.as_database_error().is_some_and(|e| e.is_unique_violation() && e.message().contains("audit_events.seq")))
}

/// A member's batch failed. Undo what of it ran: its savepoint if that exists (the others in
/// the group keep their writes, and whoever waits is committed unless someone queued will), or,
/// when even that is gone (its COMMIT failed, SQLite rolled back on its own, or the BEGIN never
/// ran), the whole group.
async fn fail_member(state: &mut State, queued: usize) {
    state.head = None;
    match state.execute("ROLLBACK TO member; RELEASE member").await {
        Ok(()) if queued > 0 => {}
        Ok(()) => {
            let _ = finish_group(state).await;
        }
        Err(error) => abandon_group(state, &error.to_string()).await,
    }
}

impl Writer {
    async fn await_group(&self, mut result: oneshot::Receiver<Result<(), String>>) -> StoreResult<()> {
        let outcome = match tokio::time::timeout(ORPHANED_GROUP, &mut result).await {
            Ok(outcome) => outcome,
            Err(_) => {
                self.flush().await;
                result.await
            }
        };
        match outcome {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(StoreError::GroupCommit(message)),
            Err(_) => Err(StoreError::GroupCommit("the group ended without committing".into())),
        }
    }
}

impl Drop for Member {
    /// Not committed: undo this member's writes (its savepoint), then end the group if nobody is
    /// queued to. The writer stays held until that is done.
    fn drop(&mut self) {
        let Some(mut state) = self.state.take() else { return };
        let queued = self.writer.queued.clone();
        match self.unsent.take() {
            // Nothing reached the database: there is nothing to undo.
            Some(Opening::Group) => state.open = false,
            Some(Opening::Savepoint) => {
                if queued.load(Ordering::SeqCst) == 0 {
                    spawn(async move {
                        let _ = finish_group(&mut state).await;
                    });
                }
            }
            None => spawn(async move {
                let queued = queued.load(Ordering::SeqCst);
                fail_member(&mut state, queued).await;
            }),
        }
    }
}

/// Statements on their way to the writer's thread as one multi-statement query: SQLite binds a
/// `$n` parameter by its number across all the statements of a query, so each statement's
/// parameters are renumbered after the ones before it and all values go in one list.
#[derive(Default)]
pub struct Batch {
    sql: String,
    values: Vec<AnyValueKind<'static>>,
}

impl Batch {
    pub fn push(&mut self, sql: &str, values: Vec<AnyValueKind<'_>>) -> StoreResult<()> {
        let values = values.into_iter().map(owned).collect::<StoreResult<Vec<_>>>()?;
        if !self.sql.is_empty() {
            self.sql.push_str(";\n");
        }
        shift_parameters(sql, self.values.len(), &mut self.sql);
        self.values.extend(values);
        Ok(())
    }

    /// A query as `sqlx::query` builds it, with its bound values.
    pub fn push_query(&mut self, mut query: super::AnyQuery<'_>) -> StoreResult<()> {
        let sql = sqlx::Execute::sql(&query);
        let values = sqlx::Execute::take_arguments(&mut query)
            .map_err(sqlx::Error::Encode)?
            .map(|arguments| arguments.values.0)
            .unwrap_or_default();
        self.push(sql, values)
    }

    /// A statement without parameters.
    fn push_plain(&mut self, sql: &str) {
        if !self.sql.is_empty() {
            self.sql.push_str(";\n");
        }
        self.sql.push_str(sql);
    }

    fn is_empty(&self) -> bool {
        self.sql.is_empty()
    }

    async fn run(self, conn: &mut AnyConnection) -> Result<Vec<AnyRow>, sqlx::Error> {
        let arguments = AnyArguments { values: AnyArgumentBuffer(self.values) };
        sqlx::query_with(&self.sql, arguments).fetch_all(conn).await
    }
}

/// Appends `sql` to `out` with each `$n` outside string literals raised by `offset`.
pub(super) fn shift_parameters(sql: &str, offset: usize, out: &mut String) {
    let mut chars = sql.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '\'' {
            quoted = !quoted;
        }
        if c != '$' || quoted {
            continue;
        }
        let mut number = 0usize;
        let mut digits = 0;
        while let Some(digit) = chars.peek().and_then(|d| d.to_digit(10)) {
            number = number * 10 + digit as usize;
            digits += 1;
            chars.next();
        }
        if digits > 0 {
            out.push_str(&(number + offset).to_string());
        }
    }
}

/// A value the batch keeps past the query that bound it.
pub(super) fn owned(value: AnyValueKind<'_>) -> Result<AnyValueKind<'static>, StoreError> {
    Ok(match value {
        AnyValueKind::Null(kind) => AnyValueKind::Null(kind),
        AnyValueKind::Bool(v) => AnyValueKind::Bool(v),
        AnyValueKind::SmallInt(v) => AnyValueKind::SmallInt(v),
        AnyValueKind::Integer(v) => AnyValueKind::Integer(v),
        AnyValueKind::BigInt(v) => AnyValueKind::BigInt(v),
        AnyValueKind::Real(v) => AnyValueKind::Real(v),
        AnyValueKind::Double(v) => AnyValueKind::Double(v),
        AnyValueKind::Text(v) => AnyValueKind::Text(Cow::Owned(v.into_owned())),
        AnyValueKind::Blob(v) => AnyValueKind::Blob(Cow::Owned(v.into_owned())),
        _ => return Err(StoreError::Corrupt("a value of a kind the SQLite writer does not know".into())),
    })
}

impl State {
    /// One of the writer's own statements (or several in one string), counted as a hand-off.
    async fn execute(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        self.handoffs.inc();
        self.conn.execute(sql).await.map(|_| ())
    }

    /// Remembers the chain head a batch read last ([`HEAD_PROBE`]), if it read it.
    fn note_head(&mut self, rows: &[AnyRow]) {
        let Some(row) = rows.iter().rev().find(|row| is_head(row)) else { return };
        if let (Ok(seq), Ok(hash)) = (row.try_get::<i64, _>("head_seq"), row.try_get::<String, _>("head_hash")) {
            self.head = Some((seq, hash));
            self.head_checked = true;
        }
    }

    /// The group's COMMIT succeeded: tell every waiting member.
    fn committed(&mut self) {
        self.open = false;
        self.waiting_since = None;
        // Outside a transaction other processes may write; the head must be read again.
        self.head_checked = false;
        self.physical.inc();
        for member in self.waiting.drain(..) {
            let _ = member.send(Ok(()));
        }
    }
}

/// COMMITs the open group and tells every waiting member how it went.
async fn commit_group(state: &mut State) -> StoreResult<()> {
    match state.execute("COMMIT").await {
        Ok(()) => {
            state.committed();
            Ok(())
        }
        Err(error) => {
            abandon_group(state, &error.to_string()).await;
            Err(error.into())
        }
    }
}

/// Commits an open group whose members have all finished (none is running: the caller holds the
/// writer). An open group with nobody waiting is rolled back: nothing in it was promised.
async fn finish_group(state: &mut State) -> StoreResult<()> {
    match (state.open, state.waiting.is_empty()) {
        (false, _) => Ok(()),
        (true, false) => commit_group(state).await,
        (true, true) => {
            state.head = None;
            state.execute("ROLLBACK").await?;
            state.open = false;
            Ok(())
        }
    }
}

/// Rolls the physical transaction back and fails every waiting member.
async fn abandon_group(state: &mut State, reason: &str) {
    if let Err(error) = state.execute("ROLLBACK").await {
        tracing::debug!(%error, "rollback after a failed group (SQLite may have rolled back already)");
    }
    state.open = false;
    state.waiting_since = None;
    state.head = None;
    state.head_checked = false;
    for member in state.waiting.drain(..) {
        let _ = member.send(Err(reason.to_owned()));
    }
}

fn finished() -> StoreError {
    StoreError::Corrupt("the transaction already ended".into())
}

/// Spawns clean-up work; outside a runtime (process exit) there is nothing left to clean.
fn spawn(work: impl std::future::Future<Output = ()> + Send + 'static) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(work);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn connection() -> AnyConnection {
        sqlx::any::install_default_drivers();
        let options: AnyConnectOptions = "sqlite::memory:".parse().expect("url");
        options.connect().await.expect("connect")
    }

    #[tokio::test]
    async fn a_batch_binds_each_statements_parameters_and_returns_every_statements_rows() {
        let mut conn = connection().await;
        let mut batch = Batch::default();
        batch.push_plain("CREATE TABLE t (a INTEGER, b TEXT)");
        let first = sqlx::query("INSERT INTO t (a, b) VALUES ($1, $2)").bind(7_i64).bind("seven".to_owned());
        batch.push_query(first).expect("first");
        let second = sqlx::query("INSERT INTO t (a, b) VALUES ($2, $1)").bind("eight").bind(8_i64);
        batch.push_query(second).expect("second");
        batch.push_plain("SELECT a, b FROM t ORDER BY a");
        batch.push_plain("SELECT COUNT(*) AS n FROM t");
        let rows = batch.run(&mut conn).await.expect("run");
        let read: Vec<(i64, String)> =
            rows.iter().take(2).map(|row| (row.get::<i64, _>("a"), row.get::<String, _>("b"))).collect();
        assert_eq!(read, vec![(7, "seven".to_owned()), (8, "eight".to_owned())]);
        assert_eq!(rows.len(), 3, "the rows of both SELECTs");
        assert_eq!(rows[2].get::<i64, _>("n"), 2);
    }

    #[test]
    fn parameters_are_shifted_outside_string_literals_only() {
        let mut out = String::new();
        shift_parameters("SELECT $1, '$2', json_extract(x, '$.a'), $10 WHERE y = $2", 5, &mut out);
        assert_eq!(out, "SELECT $6, '$2', json_extract(x, '$.a'), $15 WHERE y = $7");
    }
}
