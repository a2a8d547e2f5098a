//! SQLite's one writer, with group commit.
//!
//! SQLite runs one write transaction at a time, and a durable COMMIT (an fsync of the WAL) costs
//! more than all the statements before it (measured under the benchmark's load: ~650 of ~1,100
//! µs a transaction). So write transactions that queue behind one another share one physical
//! transaction: each runs inside its own savepoint, and the last of the group — the one that
//! finds nobody queued behind it — commits for all of them.
//!
//! What never changes: a caller's `commit` returns only after the COMMIT that covers its writes,
//! so nothing it reports is lost on power failure; a member that fails or is dropped rolls back
//! to its own savepoint and leaves the others' writes alone; a COMMIT that fails fails every
//! member. Nothing a member wrote is visible to other connections before that COMMIT.
//!
//! This is SQLite's single process-local writer, so the lock here is in-process by nature; on
//! PostgreSQL every transaction is its own and the database does its own group commit.

use super::{prepare_sqlite_connection, StoreError, StoreResult};
use prometheus_client::metrics::counter::Counter;
use sqlx::any::AnyConnectOptions;
use sqlx::{AnyConnection, ConnectOptions, Executor};
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
    /// Statements sent to the writer's thread (each one hand-off): members' statements and the
    /// BEGIN, SAVEPOINT, ROLLBACK TO and COMMIT around them.
    handoffs: Counter,
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
        let state = State { conn, open: false, waiting: Vec::new(), waiting_since: None, physical, handoffs };
        Ok(Writer { state: Arc::new(Mutex::new(state)), queued: Arc::new(AtomicUsize::new(0)) })
    }

    /// Runs migrations on the writer connection, outside any group.
    pub async fn migrate(&self, migrator: &sqlx::migrate::Migrator) -> StoreResult<()> {
        let mut state = self.state.clone().lock_owned().await;
        finish_group(&mut state).await?;
        migrator.run(&mut state.conn).await?;
        Ok(())
    }

    /// Starts a transaction: joins the open group, or opens one with `BEGIN IMMEDIATE` (the
    /// write lock up front, so one that reads before it writes can't fail to upgrade). `solo`
    /// transactions commit on their own, never leaving their COMMIT to the next.
    pub async fn begin(&self, solo: bool) -> StoreResult<Member> {
        let queued = Queued::enter(self);
        let mut state = tokio::time::timeout(ACQUIRE_TIMEOUT, self.state.clone().lock_owned())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?;
        queued.leave();
        if !state.open {
            state.execute("BEGIN IMMEDIATE").await?;
            state.open = true;
        }
        if let Err(error) = state.execute("SAVEPOINT member").await {
            abandon_group(&mut state, &error.to_string()).await;
            return Err(error.into());
        }
        Ok(Member { state: Some(state), writer: self.shared(), solo })
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
pub struct Member {
    state: Option<OwnedMutexGuard<State>>,
    writer: Writer,
    solo: bool,
}

impl Member {
    // `state` is taken only by `commit` (which consumes the member) and by `Drop`, so a member
    // anyone can still reach always holds the writer.
    /// Each call is one statement of the member's (a hand-off to the writer's thread).
    pub fn connection(&mut self) -> &mut AnyConnection {
        match self.state.as_mut() {
            Some(state) => {
                state.handoffs.inc();
                &mut state.conn
            }
            None => unreachable!("a live member holds the writer"),
        }
    }

    pub fn connection_ref(&self) -> &AnyConnection {
        match self.state.as_ref() {
            Some(state) => &state.conn,
            None => unreachable!("a live member holds the writer"),
        }
    }

    /// Returns once the COMMIT covering this member's writes has succeeded.
    pub async fn commit(mut self) -> StoreResult<()> {
        let mut state = self.state.take().ok_or_else(finished)?;
        let young = state.waiting_since.is_none_or(|since| since.elapsed() < MAX_GROUP_WAIT);
        let room = state.waiting.len() + 1 < MAX_GROUP;
        if !self.solo && young && room && self.writer.queued.load(Ordering::SeqCst) > 0 {
            let (done, result) = oneshot::channel();
            state.waiting.push(done);
            state.waiting_since.get_or_insert_with(Instant::now);
            drop(state);
            return self.writer.await_group(result).await;
        }
        commit_group(&mut state).await
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
        spawn(async move {
            if let Err(error) = state.execute("ROLLBACK TO member").await {
                // SQLite may have rolled the whole transaction back itself (I/O errors, a full disk).
                abandon_group(&mut state, &error.to_string()).await;
                return;
            }
            if queued.load(Ordering::SeqCst) == 0 {
                let _ = finish_group(&mut state).await;
            }
        });
    }
}

impl State {
    /// One of the writer's own statements, counted as a hand-off.
    async fn execute(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        self.handoffs.inc();
        self.conn.execute(sql).await.map(|_| ())
    }
}

/// COMMITs the open group and tells every waiting member how it went.
async fn commit_group(state: &mut State) -> StoreResult<()> {
    let committed = state.execute("COMMIT").await;
    match committed {
        Ok(_) => {
            state.open = false;
            state.waiting_since = None;
            state.physical.inc();
            for member in state.waiting.drain(..) {
                let _ = member.send(Ok(()));
            }
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
