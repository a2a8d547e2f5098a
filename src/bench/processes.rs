//! The simulator and service processes the benchmark drives, and what it reads from them.

use anyhow::Context as _;
use serde_json::{json, Value};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

pub struct Running {
    pub base_url: String,
    pub pid: u32,
    _child: Child,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn wait_until_up(url: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::time::Instant::now() < deadline {
        if client.get(url).send().await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("{url} did not come up")
}

fn spawn(command: &mut Command) -> anyhow::Result<Child> {
    let logs = if std::env::var_os("BENCH_SERVICE_LOG").is_some() { Stdio::inherit() } else { Stdio::null() };
    command.stdout(logs).stderr(Stdio::inherit()).kill_on_drop(true).spawn().context("starting a process")
}

pub async fn start_simulator() -> anyhow::Result<Running> {
    let port = free_port()?;
    let child = spawn(
        Command::new(std::env::current_exe()?).args(["plaid-sim", "--port", &port.to_string()]).env("RUST_LOG", "warn"),
    )?;
    let base_url = format!("http://127.0.0.1:{port}");
    wait_until_up(&format!("{base_url}/sim/calls?endpoint=none")).await?;
    Ok(Running { pid: child.id().unwrap_or(0), base_url, _child: child })
}

pub async fn start_services(
    replicas: usize,
    database_url: &str,
    sim_url: &str,
    master_key: &str,
    extra_env: &[(&str, &str)],
) -> anyhow::Result<Vec<Running>> {
    let mut running = Vec::new();
    for _ in 0..replicas.max(1) {
        let port = free_port()?;
        let child = spawn(
            Command::new(std::env::current_exe()?)
                .arg("serve")
                .env("DATABASE_URL", database_url)
                .env("PLAID_ENV", "sim")
                .env("PLAID_BASE_URL", sim_url)
                .env("PLAID_CLIENT_ID", "sim-client-id")
                .env("PLAID_SECRET", "sim-secret")
                .env("COUNTERSIGN_MASTER_KEY", master_key)
                .env("COUNTERSIGN_BIND", format!("127.0.0.1:{port}"))
                .env("RUST_LOG", std::env::var("BENCH_SERVICE_LOG").unwrap_or_else(|_| "warn".into()))
                .envs(extra_env.iter().copied()),
        )?;
        let base_url = format!("http://127.0.0.1:{port}");
        wait_until_up(&format!("{base_url}/healthz")).await?;
        running.push(Running { pid: child.id().unwrap_or(0), base_url, _child: child });
    }
    Ok(running)
}

/// Creates a fresh database on the given PostgreSQL server and returns its URL.
pub async fn fresh_postgres_database(server: &str) -> anyhow::Result<String> {
    use sqlx::Connection;
    let name = format!("cs_bench_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(server).await.context("connecting to --database-url")?;
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await?;
    let base = server.rsplit_once('/').map(|(base, _)| base).unwrap_or(server);
    Ok(format!("{base}/{name}"))
}

/// Commit counters summed over the replicas: transactions committed, and COMMITs the database
/// executed (fewer on SQLite, which groups transactions).
#[derive(Debug, Clone, Copy, Default)]
pub struct Commits {
    pub logical: u64,
    pub physical: u64,
    /// Statements handed to SQLite's writer thread (0 on PostgreSQL).
    pub writer_handoffs: u64,
}

impl std::ops::Sub for Commits {
    type Output = Commits;
    fn sub(self, earlier: Commits) -> Commits {
        Commits {
            logical: self.logical - earlier.logical,
            physical: self.physical - earlier.physical,
            writer_handoffs: self.writer_handoffs - earlier.writer_handoffs,
        }
    }
}

/// `countersign_db_commits_total` and `countersign_db_physical_commits_total`, summed.
pub async fn commits(client: &reqwest::Client, services: &[Running]) -> anyhow::Result<Commits> {
    let mut total = Commits::default();
    for service in services {
        let text = client.get(format!("{}/metrics", service.base_url)).send().await?.text().await?;
        let counter = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .with_context(|| format!("no {name} in /metrics"))
        };
        total.logical += counter("countersign_db_commits_total ")?;
        total.physical += counter("countersign_db_physical_commits_total ")?;
        total.writer_handoffs += counter("countersign_db_writer_handoffs_total ")?;
    }
    Ok(total)
}

/// CPU time (user + system) the process has used so far, in milliseconds (0 if unreadable).
pub fn cpu_ms(pid: u32) -> u64 {
    let ticks_per_second = 100; // USER_HZ: 100 on every Linux the bench runs on
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        // The command name (field 2) may hold spaces; the fields after its ')' are fixed.
        .and_then(|stat| stat.rsplit_once(')').map(|(_, rest)| rest.to_owned()))
        .map(|rest| {
            let fields: Vec<&str> = rest.split_whitespace().collect();
            // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
            let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            (ticks(11) + ticks(12)) * 1000 / ticks_per_second
        })
        .unwrap_or(0)
}

/// A field of /proc/<pid>/status in kB (VmHWM: peak resident set; VmRSS: current).
pub fn rss_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_owned)))
        .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

/// Transfers the simulator created: its `pending` events, one per new transfer.
pub async fn transfers_at_simulator(client: &reqwest::Client, sim_url: &str) -> anyhow::Result<usize> {
    let mut after = 0u64;
    let mut created = 0;
    loop {
        let page: Value = client
            .post(format!("{sim_url}/transfer/event/sync"))
            .json(&json!({"client_id": "sim-client-id", "secret": "sim-secret", "after_id": after, "count": 500}))
            .send()
            .await?
            .json()
            .await?;
        let events = page["transfer_events"].as_array().cloned().unwrap_or_default();
        created += events.iter().filter(|e| e["event_type"] == "pending").count();
        after = events.last().and_then(|e| e["event_id"].as_u64()).unwrap_or(after);
        if page["has_more"] != true {
            return Ok(created);
        }
    }
}
