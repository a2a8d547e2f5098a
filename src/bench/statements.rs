//! Statements PostgreSQL executed for the measured cycles, from `pg_stat_statements` (when the
//! server preloads it; otherwise the bench says it could not count). Counted in the bench's own
//! database only, so the simulator (no database) and other databases on the server are not in it.

use sqlx::{Connection, PgConnection, Row};

const THIS_DATABASE: &str = "(SELECT oid FROM pg_database WHERE datname = current_database())";

pub struct StatementCount {
    conn: PgConnection,
}

/// A statement's text and how often it ran.
#[derive(Debug, serde::Serialize)]
pub struct Statement {
    pub calls: i64,
    pub query: String,
}

impl StatementCount {
    /// None when the server does not preload `pg_stat_statements`.
    pub async fn open(database_url: &str) -> Option<StatementCount> {
        let mut conn = PgConnection::connect(database_url).await.ok()?;
        sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements").execute(&mut conn).await.ok()?;
        sqlx::query("SELECT 1 FROM pg_stat_statements LIMIT 1").execute(&mut conn).await.ok()?;
        Some(StatementCount { conn })
    }

    pub async fn reset(&mut self) -> anyhow::Result<()> {
        sqlx::query(&format!("SELECT pg_stat_statements_reset(0, {THIS_DATABASE}, 0)")).execute(&mut self.conn).await?;
        Ok(())
    }

    /// Statements executed since the reset (this counter's own left out), most frequent first.
    pub async fn since_reset(&mut self) -> anyhow::Result<Vec<Statement>> {
        let rows = sqlx::query(&format!(
            "SELECT calls, query FROM pg_stat_statements WHERE dbid = {THIS_DATABASE} \
             AND query NOT LIKE '%pg_stat_statements%' ORDER BY calls DESC"
        ))
        .fetch_all(&mut self.conn)
        .await?;
        rows.iter()
            .map(|row| {
                let query: String = row.try_get("query")?;
                let query = query.split_whitespace().collect::<Vec<_>>().join(" ");
                Ok(Statement { calls: row.try_get("calls")?, query })
            })
            .collect()
    }
}
