//! A PostgreSQL write transaction whose writes wait and go together.
//!
//! A write whose result nobody reads (`Tx::write`) waits until the transaction next sends
//! anything — a read, a write whose count is read, its COMMIT — and the writes waiting then go as
//! **one statement**: `WITH w0 AS (INSERT …), w1 AS (UPDATE …) INSERT …`, data-modifying CTEs.
//! A proposal's request, its audit record and its idempotency link are one round trip instead of
//! three, and they are sent while the proposal holds its policy window locks, so every proposal
//! of the same agent or account waits less.
//!
//! The price is PostgreSQL's rule for such statements: all parts run on one snapshot and none
//! sees another's changes. So two writes to the same table never go together (the second waits
//! for the next statement), and a write that reads a table another waiting write changes must be
//! sent with `Tx::execute` instead. Statements other than INSERT, UPDATE and DELETE are sent on
//! their own.

use super::sqlite_writer::{owned, shift_parameters};
use super::{AnyQuery, StoreResult};
use sqlx::any::AnyArguments;
use sqlx::AnyConnection;
use sqlx_core::any::{AnyArgumentBuffer, AnyValueKind};

pub struct PostgresTx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    waiting: Vec<Waiting>,
}

struct Waiting {
    sql: String,
    values: Vec<AnyValueKind<'static>>,
    /// The table it writes (`INSERT INTO t`, `UPDATE t`, `DELETE FROM t`).
    table: String,
}

impl PostgresTx {
    pub fn new(tx: sqlx::Transaction<'static, sqlx::Any>) -> PostgresTx {
        PostgresTx { tx, waiting: Vec::new() }
    }

    /// Adds a write to the ones waiting, or sends it at once if it can't go with them.
    pub async fn write(&mut self, mut query: AnyQuery<'_>) -> StoreResult<()> {
        let sql = sqlx::Execute::sql(&query).to_owned();
        let Some(table) = written_table(&sql) else {
            self.flush().await?;
            sqlx::Executor::execute(&mut *self.tx, query).await?;
            return Ok(());
        };
        if self.waiting.iter().any(|waiting| waiting.table == table) {
            self.flush().await?;
        }
        let values = sqlx::Execute::take_arguments(&mut query)
            .map_err(sqlx::Error::Encode)?
            .map(|arguments| arguments.values.0)
            .unwrap_or_default();
        let values = values.into_iter().map(owned).collect::<StoreResult<Vec<_>>>()?;
        self.waiting.push(Waiting { sql, values, table });
        Ok(())
    }

    /// The connection, once the writes waiting have been sent.
    pub async fn connection(&mut self) -> StoreResult<&mut AnyConnection> {
        self.flush().await?;
        Ok(&mut *self.tx)
    }

    pub async fn commit(mut self) -> StoreResult<()> {
        self.flush().await?;
        self.tx.commit().await?;
        Ok(())
    }

    /// Sends the writes waiting as one statement.
    async fn flush(&mut self) -> StoreResult<()> {
        let waiting = std::mem::take(&mut self.waiting);
        let Some(last) = waiting.len().checked_sub(1) else { return Ok(()) };
        let mut sql = String::new();
        let mut values = Vec::new();
        for (n, write) in waiting.into_iter().enumerate() {
            sql.push_str(match (n, n == last) {
                (0, false) => "WITH ",
                (_, false) => ", ",
                (0, true) => "",
                (_, true) => " ",
            });
            if n == last {
                shift_parameters(&write.sql, values.len(), &mut sql);
            } else {
                sql.push_str(&format!("w{n} AS ("));
                shift_parameters(&write.sql, values.len(), &mut sql);
                sql.push(')');
            }
            values.extend(write.values);
        }
        let arguments = AnyArguments { values: AnyArgumentBuffer(values) };
        sqlx::Executor::execute(&mut *self.tx, sqlx::query_with(&sql, arguments)).await?;
        Ok(())
    }
}

/// The table an INSERT, UPDATE or DELETE writes; `None` for any other statement (and for one that
/// starts with its own WITH, which can't be nested as a part).
fn written_table(sql: &str) -> Option<String> {
    let words: Vec<&str> = sql.split_whitespace().take(3).collect();
    let table = match words.first()?.to_ascii_uppercase().as_str() {
        "INSERT" | "DELETE" => words.get(2)?,
        "UPDATE" => words.get(1)?,
        _ => return None,
    };
    let table = table.split('(').next().unwrap_or(table);
    (!table.is_empty()).then(|| table.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::written_table;

    #[test]
    fn the_written_table_is_read_from_inserts_updates_and_deletes_only() {
        assert_eq!(written_table("INSERT INTO audit_pending (fields) VALUES ($1)").as_deref(), Some("audit_pending"));
        assert_eq!(written_table("insert into t(a) values ($1)").as_deref(), Some("t"));
        assert_eq!(written_table("UPDATE idempotency_keys SET request_id = $1").as_deref(), Some("idempotency_keys"));
        assert_eq!(written_table("DELETE FROM outbox WHERE id = $1").as_deref(), Some("outbox"));
        assert_eq!(written_table("WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x"), None);
        assert_eq!(written_table("CREATE TABLE IF NOT EXISTS t (id TEXT)"), None);
        assert_eq!(written_table("SELECT 1"), None);
    }
}
