//! Persistence: one interface over SQLite (the embedded default) and PostgreSQL (production).
//!
//! Both backends run the same portable SQL through sqlx's `Any` driver (`$1` parameters work on
//! both); each has its own migrations under `migrations/`. Functions here do one thing each and
//! take a transaction or a pool; the service layer opens and commits. This layer never calls out
//! to Plaid and never decides a rule: it stores and compare-and-sets.
//!
//! SQLite allows one writer at a time; instead of letting concurrent writers fail with "database
//! is locked", all writes go through one connection (`sqlite_writer`), where transactions that
//! queue behind each other share a COMMIT, while reads use a separate pool (WAL lets them run
//! beside the writer). Inside a transaction, `Tx::write` is for a write whose result the caller
//! does not read and `InTx` (`query.fetch_one_in(tx)`, …) for a statement whose result it reads:
//! on SQLite the writes wait and go to the writer with the next read or the commit, one hand-off
//! for all; on PostgreSQL each runs at once.

pub mod admin;
pub mod agents;
pub mod approvals;
pub mod approver_groups;
pub mod approvers;
pub mod audit;
pub mod channels;
pub mod checkpoints;
pub mod desk;
pub mod digest;
pub mod enrollment;
pub mod gauges;
pub mod idempotency;
pub mod items;
pub mod maintenance;
pub mod outbox;
pub mod policy;
pub mod read_requests;
pub mod reads;
pub mod recurring;
pub mod requests;
pub mod retention;
pub mod sessions;
pub mod throttle;
pub mod transfer_events;
pub mod transitions;

mod postgres_tx;
mod sqlite_writer;

use prometheus_client::metrics::counter::Counter;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// A write transaction. Audit records appended to it are written when it commits, a few
/// statements for all of them; dropping it rolls back the change and its records together.
pub struct Tx {
    conn: TxConn,
    audit: Vec<audit::AuditFields>,
    /// On SQLite, a condition the audit records are written under (a whole transition's
    /// compare-and-set having won: `transitions`).
    audit_guard: Option<&'static str>,
    /// On SQLite, the caller runs the transaction again if its records collide with a head
    /// another process moved (`sqlite_writer::is_stale_head`), so the writer may chain them
    /// after the head it last saw without reading it first.
    retries_stale_head: bool,
    backend: Backend,
}

enum TxConn {
    /// Its writes wait and go together (`postgres_tx`).
    Postgres(postgres_tx::PostgresTx),
    /// A member of SQLite's group commit (`sqlite_writer`).
    Sqlite(sqlite_writer::Member),
}

impl Tx {
    /// Holds `fields` until commit (`Store::commit`).
    pub(crate) fn append_audit(&mut self, fields: audit::AuditFields) {
        self.audit.push(fields);
    }

    pub(crate) fn backend(&self) -> Backend {
        self.backend
    }

    /// The connection, for a statement whose result the caller reads. On SQLite the writes
    /// waiting for the writer go first (`sqlite_writer`: one hand-off for all of them).
    pub async fn conn(&mut self) -> StoreResult<&mut sqlx::AnyConnection> {
        match &mut self.conn {
            TxConn::Postgres(tx) => tx.connection().await,
            TxConn::Sqlite(member) => member.connection().await,
        }
    }

    /// A write whose result the caller does not read. It waits for whatever the transaction sends
    /// next — at the latest its commit: on SQLite in the writer's batch (`sqlite_writer`), so a
    /// transaction that only writes reaches the writer's thread once; on PostgreSQL the writes
    /// waiting go as one statement (`postgres_tx`), so they must not depend on one another's
    /// changes (a write that reads what another waiting write changes goes by [`Tx::execute`]).
    pub async fn write(&mut self, query: AnyQuery<'_>) -> StoreResult<()> {
        match &mut self.conn {
            TxConn::Postgres(tx) => tx.write(query).await?,
            TxConn::Sqlite(member) => member.defer(query)?,
        }
        Ok(())
    }

    /// Rows of a statement whose result the caller reads. On SQLite the writes waiting go in
    /// the same hand-off, before it.
    pub async fn fetch_all(&mut self, query: AnyQuery<'_>) -> StoreResult<Vec<sqlx::any::AnyRow>> {
        match &mut self.conn {
            TxConn::Postgres(tx) => Ok(query.fetch_all(tx.connection().await?).await?),
            TxConn::Sqlite(member) => member.fetch(query).await,
        }
    }

    /// A write whose count of changed rows the caller reads. On SQLite the writes waiting go in
    /// the same hand-off, and `changes()` after it counts its own rows only.
    pub async fn execute(&mut self, query: AnyQuery<'_>) -> StoreResult<sqlx::any::AnyQueryResult> {
        match &mut self.conn {
            TxConn::Postgres(tx) => Ok(query.execute(tx.connection().await?).await?),
            TxConn::Sqlite(member) => {
                member.defer(query)?;
                let rows = member.fetch(sqlx::query("SELECT changes() AS changed_rows")).await?;
                let counted = rows.iter().rev().find_map(|row| sqlx::Row::try_get::<i64, _>(row, "changed_rows").ok());
                let changed = counted.ok_or_else(|| StoreError::Corrupt("changes() returned no row".into()))?;
                Ok(sqlx::any::AnyQueryResult { rows_affected: changed.max(0) as u64, last_insert_id: None })
            }
        }
    }

    /// Each query's rows. On SQLite all of them go to the writer in one hand-off, after the
    /// writes waiting.
    pub async fn fetch_each(&mut self, queries: Vec<AnyQuery<'_>>) -> StoreResult<Vec<Vec<sqlx::any::AnyRow>>> {
        match &mut self.conn {
            TxConn::Postgres(tx) => {
                let mut each = Vec::with_capacity(queries.len());
                for query in queries {
                    each.push(query.fetch_all(tx.connection().await?).await?);
                }
                Ok(each)
            }
            TxConn::Sqlite(member) => member.fetch_each(queries).await,
        }
    }

    /// [`Tx::fetch_all`]'s first row, if any.
    pub async fn fetch_optional(&mut self, query: AnyQuery<'_>) -> StoreResult<Option<sqlx::any::AnyRow>> {
        Ok(self.fetch_all(query).await?.into_iter().next())
    }

    /// [`Tx::fetch_all`]'s first row; `RowNotFound` without one.
    pub async fn fetch_one(&mut self, query: AnyQuery<'_>) -> StoreResult<sqlx::any::AnyRow> {
        self.fetch_optional(query).await?.ok_or(StoreError::Database(sqlx::Error::RowNotFound))
    }

    /// The audit chain head, on SQLite: known to the writer inside its group, or read with
    /// the writes waiting (one hand-off).
    pub(crate) async fn sqlite_audit_head(&mut self) -> StoreResult<(i64, String)> {
        let or_last_seen = self.retries_stale_head;
        match &mut self.conn {
            TxConn::Sqlite(member) => match member.known_head(or_last_seen) {
                Some(head) => Ok(head),
                None => member.read_head().await,
            },
            TxConn::Postgres(_) => Err(StoreError::Corrupt("the SQLite chain head asked of PostgreSQL".into())),
        }
    }
}

/// A query as `sqlx::query` builds it.
pub type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// A query run inside a transaction, read as sqlx reads it: `query.fetch_one_in(tx)` for
/// `query.fetch_one(conn)`. On SQLite each goes to the writer with the writes waiting before it,
/// in one hand-off.
// Callers hold concrete queries, so the futures' `Send` follows from the one implementation.
#[allow(async_fn_in_trait)]
pub trait InTx {
    async fn fetch_one_in(self, tx: &mut Tx) -> StoreResult<sqlx::any::AnyRow>;
    async fn fetch_optional_in(self, tx: &mut Tx) -> StoreResult<Option<sqlx::any::AnyRow>>;
    async fn fetch_all_in(self, tx: &mut Tx) -> StoreResult<Vec<sqlx::any::AnyRow>>;
    /// For a write whose count of changed rows the caller reads (else [`Tx::write`]).
    async fn execute_in(self, tx: &mut Tx) -> StoreResult<sqlx::any::AnyQueryResult>;
}

impl InTx for AnyQuery<'_> {
    async fn fetch_one_in(self, tx: &mut Tx) -> StoreResult<sqlx::any::AnyRow> {
        tx.fetch_one(self).await
    }

    async fn fetch_optional_in(self, tx: &mut Tx) -> StoreResult<Option<sqlx::any::AnyRow>> {
        tx.fetch_optional(self).await
    }

    async fn fetch_all_in(self, tx: &mut Tx) -> StoreResult<Vec<sqlx::any::AnyRow>> {
        tx.fetch_all(self).await
    }

    async fn execute_in(self, tx: &mut Tx) -> StoreResult<sqlx::any::AnyQueryResult> {
        tx.execute(self).await
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL: expected sqlite:// or postgres://")]
    UnsupportedUrl,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the commit this transaction was grouped into failed: {0}")]
    GroupCommit(String),
}

impl StoreError {
    /// Unique-constraint violations are the one database error callers act on (409/422); they are
    /// recognised here, once.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Database(err) => err.as_database_error().is_some_and(|e| e.is_unique_violation()),
            _ => false,
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Clone)]
pub struct Store {
    writer: Writer,
    reader: AnyPool,
    backend: Backend,
    commits: Counter,
    physical_commits: Counter,
    writer_handoffs: Counter,
    queued: Arc<Notify>,
    /// Audit integrity alerts by kind (`countersign_audit_chain_errors`): raised where the chain
    /// is written, which knows no context; shared with `Metrics`, which exposes them.
    audit_alerts: crate::metrics::ByLabel,
}

#[derive(Clone)]
enum Writer {
    Postgres(AnyPool),
    Sqlite(Arc<sqlite_writer::Writer>),
}

impl Store {
    /// Connects to `sqlite://path` (created if missing) or `postgres://…`.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Store> {
        Self::connect_with(url, max_connections, SqliteSync::from_env()).await
    }

    pub async fn connect_with(url: &str, max_connections: u32, sync: SqliteSync) -> StoreResult<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        let options = AnyConnectOptions::from_str(url)?;
        let commits = Counter::default();
        let writer_handoffs = Counter::default();
        let (writer, reader, physical_commits) = match backend {
            Backend::Sqlite => {
                let physical = Counter::default();
                let writer =
                    sqlite_writer::Writer::connect(&options, sync, physical.clone(), writer_handoffs.clone()).await?;
                let reader = sqlite_pool(max_connections.max(2), sync).connect_with(options).await?;
                (Writer::Sqlite(Arc::new(writer)), reader, physical)
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await?;
                // Each transaction commits on its own (PostgreSQL groups their WAL flushes itself).
                (Writer::Postgres(pool.clone()), pool, commits.clone())
            }
        };
        Ok(Store {
            writer,
            reader,
            backend,
            commits,
            physical_commits,
            writer_handoffs,
            queued: Default::default(),
            audit_alerts: Default::default(),
        })
    }

    /// Audit integrity alerts by kind; `audit::chain::alert` raises them.
    pub fn audit_alerts(&self) -> &crate::metrics::ByLabel {
        &self.audit_alerts
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn migrate(&self) -> StoreResult<()> {
        match &self.writer {
            Writer::Sqlite(writer) => writer.migrate(&sqlx::migrate!("migrations/sqlite")).await?,
            Writer::Postgres(pool) => sqlx::migrate!("migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// Starts a write transaction. On SQLite it joins the writer's group commit
    /// (`sqlite_writer`), taking the write lock up front (`BEGIN IMMEDIATE`).
    pub async fn begin(&self) -> StoreResult<Tx> {
        self.begin_as(false).await
    }

    /// A write transaction that commits on its own, never grouped with others' (the
    /// benchmark's measure of single-row durable commits). The same as `begin` on PostgreSQL.
    pub async fn begin_solo(&self) -> StoreResult<Tx> {
        self.begin_as(true).await
    }

    async fn begin_as(&self, solo: bool) -> StoreResult<Tx> {
        let conn = match &self.writer {
            Writer::Sqlite(writer) => TxConn::Sqlite(writer.begin(solo).await?),
            Writer::Postgres(pool) => TxConn::Postgres(postgres_tx::PostgresTx::new(pool.begin().await?)),
        };
        Ok(Tx { conn, audit: Vec::new(), audit_guard: None, retries_stale_head: false, backend: self.backend })
    }

    /// Writes the transaction's audit records and commits, counting it
    /// (`countersign_db_commits_total`).
    ///
    /// On SQLite the records are chained right here: the transaction already holds the one write
    /// lock, so taking the chain head costs no concurrency. On PostgreSQL they are queued for the
    /// chainer (`audit::chain`): taking the head here would serialize every writer of every
    /// replica behind one row lock, held through each commit's flush.
    pub async fn commit(&self, tx: Tx) -> StoreResult<()> {
        self.commit_returning(tx).await.map(|_| ())
    }

    /// [`Store::commit`], with the rows the transaction's last waiting statements returned on
    /// SQLite (they go to the writer with the COMMIT); none on PostgreSQL.
    pub(crate) async fn commit_returning(&self, mut tx: Tx) -> StoreResult<Vec<sqlx::any::AnyRow>> {
        let records = std::mem::take(&mut tx.audit);
        let queued = match self.backend {
            _ if records.is_empty() => false,
            Backend::Sqlite => {
                audit::chain_now(&mut tx, records).await?;
                false
            }
            Backend::Postgres => {
                audit::insert_pending(&mut tx, &records).await?;
                true
            }
        };
        let rows = match tx.conn {
            TxConn::Postgres(inner) => {
                inner.commit().await?;
                Vec::new()
            }
            TxConn::Sqlite(member) => member.commit().await?,
        };
        self.commits.inc();
        if queued {
            self.queued.notify_one();
        }
        Ok(rows)
    }

    /// Write transactions waiting to start: SQLite's queue for its one writer (always 0 on
    /// PostgreSQL, where transactions run side by side).
    pub fn queued_writers(&self) -> usize {
        match &self.writer {
            Writer::Sqlite(writer) => writer.queued(),
            Writer::Postgres(_) => 0,
        }
    }

    /// Woken after commits that queued audit records (once for any number of them): the audit
    /// chainer waits here.
    pub fn queued(&self) -> Arc<Notify> {
        self.queued.clone()
    }

    /// Committed write transactions since start.
    pub fn commits(&self) -> &Counter {
        &self.commits
    }

    /// COMMITs the database executed since start: on SQLite one per group of transactions
    /// (`sqlite_writer`), on PostgreSQL one per transaction.
    pub fn physical_commits(&self) -> &Counter {
        &self.physical_commits
    }

    /// Statements handed to SQLite's writer thread since start, one hand-off each (always 0 on
    /// PostgreSQL, where `pg_stat_statements` counts statements).
    pub fn writer_handoffs(&self) -> &Counter {
        &self.writer_handoffs
    }

    /// The pool for reads outside a transaction.
    pub fn reader(&self) -> &AnyPool {
        &self.reader
    }

    /// Cheap liveness probe for `/readyz`.
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    pub async fn close(&self) {
        if let Writer::Postgres(pool) = &self.writer {
            pool.close().await;
        }
        self.reader.close().await;
    }
}

/// SQLite's `synchronous` setting in WAL mode (`COUNTERSIGN_SQLITE_SYNCHRONOUS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqliteSync {
    /// Every commit is fsynced: it survives power loss. The default: a durable pause on money
    /// movement needs it.
    Full,
    /// Commits reach the OS at once and the disk at checkpoints: they survive a crash of the
    /// process, not of the machine. Several times more commits per second.
    Normal,
}

impl SqliteSync {
    pub fn from_env() -> Self {
        match std::env::var("COUNTERSIGN_SQLITE_SYNCHRONOUS").ok().as_deref().map(str::trim) {
            Some("normal" | "NORMAL") => SqliteSync::Normal,
            _ => SqliteSync::Full,
        }
    }

    fn pragma(self) -> &'static str {
        match self {
            SqliteSync::Full => "PRAGMA synchronous = FULL",
            SqliteSync::Normal => "PRAGMA synchronous = NORMAL",
        }
    }
}

fn sqlite_pool(max_connections: u32, sync: SqliteSync) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(move |conn, _meta| Box::pin(async move { prepare_sqlite_connection(conn, sync).await }))
}

/// Every SQLite connection, the writer's and the readers': WAL lets readers run beside the
/// writer; busy_timeout covers other processes (the CLI) writing the same file.
async fn prepare_sqlite_connection(conn: &mut sqlx::AnyConnection, sync: SqliteSync) -> Result<(), sqlx::Error> {
    conn.execute("PRAGMA journal_mode = WAL").await?;
    conn.execute(sync.pragma()).await?;
    conn.execute("PRAGMA busy_timeout = 10000").await?;
    conn.execute("PRAGMA foreign_keys = ON").await?;
    Ok(())
}

/// Reads an optional integer column that holds a boolean.
pub(crate) fn flag(value: i64) -> bool {
    value != 0
}
