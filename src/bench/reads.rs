//! `countersign bench --reads`: tier-0 `accounts/balance/get` through the read gateway, against
//! the same Plaid call made to the simulator directly in the same run, so the service's own share
//! of the latency is visible. Each gateway read is one Plaid call and one audited transaction.

use super::driver::{self, Outcome, Sample};
use super::report::Percentiles;
use super::{ceiling, processes, BenchArgs};
use crate::config::Settings;
use crate::crypto::MasterKey;
use crate::domain::reads::ReadProduct;
use crate::service::{gateway, registry};
use anyhow::Context as _;
use serde::Serialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Targets from issue 17 (at C=16 on the project's machine).
const TARGET_READS_PER_SECOND: f64 = 1500.0;
const TARGET_ADDED_P99_MS: f64 = 2.0;

#[derive(Debug, Serialize)]
pub struct ReadsSummary {
    pub database: &'static str,
    pub concurrency: usize,
    /// Reads offered a second (open loop), or none: as many as answered (closed loop).
    pub offered_reads_per_second: Option<f64>,
    pub reads: usize,
    pub errors: usize,
    pub first_errors: Vec<String>,
    pub gateway_reads_per_second: f64,
    pub gateway: Percentiles,
    pub simulator_alone_reads_per_second: f64,
    pub simulator_alone: Percentiles,
    /// Gateway p99 minus the simulator's own p99.
    pub service_added_p99_ms: f64,
    pub db_commits_per_read: f64,
    pub db_physical_commits_per_read: f64,
    pub db_single_row_commits_per_second: f64,
    pub audit_records: i64,
    pub service_peak_rss_mb: f64,
    /// The service's CPU time (user + system) per gateway read, and the simulator's per call
    /// when called alone: on a machine this small, CPU is what the service's share is made of.
    pub service_cpu_ms_per_read: f64,
    pub simulator_cpu_ms_per_call: f64,
}

/// CPU time (user + system) a process has used so far, in ms (`/proc/PID/stat`, in USER_HZ:
/// 100 ticks a second on Linux).
fn cpu_ms(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    cpu_ticks(&stat) as f64 * 10.0
}

/// utime + stime of a `/proc/PID/stat` line: its 14th and 15th fields, counted after the command
/// name (which may hold spaces and ends at the last ')').
fn cpu_ticks(stat: &str) -> u64 {
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    rest.split_whitespace().skip(11).take(2).filter_map(|t| t.parse::<u64>().ok()).sum()
}

/// CPU ms per call over `calls` calls.
fn per_call(before: f64, after: f64, calls: usize) -> f64 {
    ((after - before) / calls.max(1) as f64 * 1000.0).round() / 1000.0
}

async fn timed(client: &reqwest::Client, url: &str, auth: Option<&str>, body: &Value) -> anyhow::Result<Sample> {
    let start = Instant::now();
    let mut request = client.post(url).json(body);
    if let Some(key) = auth {
        request = request.bearer_auth(key);
    }
    let response = request.send().await?;
    let status = response.status();
    let _ = response.bytes().await?;
    anyhow::ensure!(status.is_success(), "{url}: {status}");
    Ok(Sample { cycle: start.elapsed(), ..Sample::default() })
}

async fn drive(
    client: &reqwest::Client,
    url: String,
    auth: Option<String>,
    body: Value,
    total: usize,
    concurrency: usize,
    rate: Option<f64>,
) -> (Outcome, Duration) {
    let (client, url, body) = (client.clone(), Arc::new(url), Arc::new(body));
    let auth = Arc::new(auth);
    let call = move |_| {
        let (client, url, auth, body) = (client.clone(), url.clone(), auth.clone(), body.clone());
        async move { timed(&client, &url, auth.as_deref(), &body).await }
    };
    let started = Instant::now();
    let outcome = match rate {
        Some(rate) => driver::run_at_rate(total, concurrency, rate, call).await,
        None => driver::run(total, concurrency, call).await,
    };
    (outcome, started.elapsed())
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let dir = super::tempfile_dir()?;
    let database_url = match &args.database_url {
        Some(server) => processes::fresh_postgres_database(server).await?,
        None => format!("sqlite://{}?mode=rwc", dir.join("bench.db").display()),
    };
    let sim = processes::start_simulator().await?;
    let master_key = MasterKey::generate_base64();
    let settings = Settings {
        database_url: database_url.clone(),
        plaid_base_url: Some(sim.base_url.clone()),
        master_key: Some(master_key.clone().into()),
        data_dir: dir.clone(),
        ..Settings::from_env().context("settings")?
    };
    let (ctx, _) = crate::startup::connect(&settings).await?;
    let item = registry::add_sandbox_item(&ctx).await?;
    let stored = crate::store::items::find(ctx.store.reader(), &item).await?.context("item")?;
    let access_token = ctx.master_key.decrypt(&stored.access_token_enc)?;
    let agent = registry::add_agent(&ctx.store, "bench-reader", "bench-owner", None).await?;
    gateway::grant_products(&ctx.store, &agent.id, &[ReadProduct::Balance], &[]).await?;
    ctx.store.close().await;

    // The benchmark measures the service, not its rate limit (the policy file's `[reads]`).
    let policy_file = dir.join("bench-reads-policy.toml");
    std::fs::write(&policy_file, "label = \"bench: reads unlimited\"\n[reads]\nper_agent_per_minute = 1000000000\n")?;
    let policy_env = policy_file.display().to_string();
    let unlimited = [("COUNTERSIGN_POLICY_FILE", policy_env.as_str())];
    let services = processes::start_services(1, &database_url, &sim.base_url, &master_key, &unlimited).await?;
    let service = &services[0];
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency * 2).build()?;
    let direct_url = format!("{}/accounts/balance/get", sim.base_url);
    let direct_body = json!({"client_id": "sim-client-id", "secret": "sim-secret", "access_token": access_token});
    let gateway_url = format!("{}/v1/plaid/accounts/balance/get", service.base_url);
    let gateway_body = json!({"item_id": item.to_string()});
    let key = Some(agent.api_key.clone());

    let warmup = args.concurrency.max(8) * 4;
    let (concurrency, rate) = (args.concurrency, args.rate);
    drive(&client, gateway_url.clone(), key.clone(), gateway_body.clone(), warmup, concurrency, None).await;
    drive(&client, direct_url.clone(), None, direct_body.clone(), warmup, concurrency, None).await;
    let sim_cpu = cpu_ms(sim.pid);
    let (alone, alone_elapsed) = drive(&client, direct_url, None, direct_body, args.cycles, concurrency, rate).await;
    let simulator_cpu = per_call(sim_cpu, cpu_ms(sim.pid), alone.samples.len());
    let commits_before = processes::commits(&client, &services).await?;
    let service_cpu = cpu_ms(service.pid);
    let (through, through_elapsed) =
        drive(&client, gateway_url, key, gateway_body, args.cycles, concurrency, rate).await;
    let service_cpu = per_call(service_cpu, cpu_ms(service.pid), through.samples.len());
    let commits = processes::commits(&client, &services).await? - commits_before;
    let peak_rss_kb = processes::rss_kb(service.pid, "VmHWM");
    let ceiling = ceiling::measure(&database_url, args.concurrency, Duration::from_secs(args.ceiling_secs)).await?;
    let audit_records = count_read_records(&database_url).await?;

    let mut summary = summarize(
        &args,
        &through,
        through_elapsed,
        &alone,
        alone_elapsed,
        commits,
        ceiling,
        audit_records,
        peak_rss_kb,
    );
    (summary.service_cpu_ms_per_read, summary.simulator_cpu_ms_per_call) = (service_cpu, simulator_cpu);
    println!("{}", summary.table());
    let json = serde_json::to_string_pretty(&summary)?;
    println!("{json}");
    if let Some(path) = &args.json_out {
        std::fs::write(path, &json)?;
    }
    drop(services);
    drop(sim);
    let _ = std::fs::remove_dir_all(&dir);
    anyhow::ensure!(summary.errors == 0, "{} reads failed: {:?}", summary.errors, summary.first_errors);
    let expected = i64::try_from(args.cycles + warmup).unwrap_or(i64::MAX);
    anyhow::ensure!(summary.audit_records == expected, "{} audit records for {expected} reads", summary.audit_records);
    Ok(())
}

/// Gateway reads in the audit trail, chained or still queued.
async fn count_read_records(database_url: &str) -> anyhow::Result<i64> {
    let store = crate::store::Store::connect(database_url, 2).await?;
    crate::audit::settle(&store).await?;
    let row = sqlx::query("SELECT COUNT(*) AS n FROM audit_events WHERE event_type = 'plaid.read'")
        .fetch_one(store.reader())
        .await?;
    let n: i64 = sqlx::Row::try_get(&row, "n")?;
    store.close().await;
    Ok(n)
}

#[allow(clippy::too_many_arguments)]
fn summarize(
    args: &BenchArgs,
    through: &Outcome,
    through_elapsed: Duration,
    alone: &Outcome,
    alone_elapsed: Duration,
    commits: processes::Commits,
    ceiling: f64,
    audit_records: i64,
    peak_rss_kb: u64,
) -> ReadsSummary {
    let round = |x: f64| (x * 100.0).round() / 100.0;
    let rate = |o: &Outcome, e: Duration| round(o.samples.len() as f64 / e.as_secs_f64());
    let done = through.samples.len().max(1) as f64;
    let gateway = super::report::percentiles(&through.samples, |s| s.cycle);
    let simulator_alone = super::report::percentiles(&alone.samples, |s| s.cycle);
    ReadsSummary {
        database: if args.database_url.is_some() { "postgresql" } else { "sqlite" },
        concurrency: args.concurrency,
        offered_reads_per_second: args.rate,
        reads: through.samples.len(),
        errors: through.errors.len() + alone.errors.len(),
        first_errors: through.errors.iter().chain(&alone.errors).take(3).cloned().collect(),
        gateway_reads_per_second: rate(through, through_elapsed),
        simulator_alone_reads_per_second: rate(alone, alone_elapsed),
        service_added_p99_ms: round(gateway.p99_ms - simulator_alone.p99_ms),
        gateway,
        simulator_alone,
        db_commits_per_read: round(commits.logical as f64 / done),
        db_physical_commits_per_read: round(commits.physical as f64 / done),
        db_single_row_commits_per_second: round(ceiling),
        audit_records,
        service_peak_rss_mb: round(peak_rss_kb as f64 / 1024.0),
        service_cpu_ms_per_read: 0.0,
        simulator_cpu_ms_per_call: 0.0,
    }
}

impl ReadsSummary {
    pub fn table(&self) -> String {
        let row = |name: &str, p: &Percentiles, rate: f64| {
            format!("{name:<22} {rate:>9.1} {:>9.2} {:>9.2} {:>9.2}\n", p.p50_ms, p.p95_ms, p.p99_ms)
        };
        let offered = match self.offered_reads_per_second {
            Some(rate) => format!(", {rate:.0} reads/s offered (open loop; times from when each read was due)"),
            None => String::new(),
        };
        let mut out = format!(
            "\n{} reads, concurrency {}{offered}: {} reads, {} errors\n\n{:<22} {:>9} {:>9} {:>9} {:>9}\n",
            self.database,
            self.concurrency,
            self.reads,
            self.errors,
            "accounts/balance/get",
            "reads/s",
            "p50 ms",
            "p95 ms",
            "p99 ms"
        );
        out += &row("through the gateway", &self.gateway, self.gateway_reads_per_second);
        out += &row("simulator alone", &self.simulator_alone, self.simulator_alone_reads_per_second);
        out += &format!(
            "\nservice adds {:.2} ms at p99 (target ≤ {TARGET_ADDED_P99_MS}); {:.1} reads/s (target ≥ {TARGET_READS_PER_SECOND}); \
             {:.2} commits/read in {:.2} physical; database ceiling {:.0} single-row commits/s; {} audit records; peak RSS {:.1} MB; \
             CPU {:.3} ms per read in the service, {:.3} ms per call in the simulator alone\n",
            self.service_added_p99_ms,
            self.gateway_reads_per_second,
            self.db_commits_per_read,
            self.db_physical_commits_per_read,
            self.db_single_row_commits_per_second,
            self.audit_records,
            self.service_peak_rss_mb,
            self.service_cpu_ms_per_read,
            self.simulator_cpu_ms_per_call,
        );
        out
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cpu_ticks_are_utime_plus_stime_whatever_the_command_name() {
        let line = "4242 (count ersign) S 1 4242 4242 0 -1 4194560 900 0 0 0 533 616 0 0 20 0 9 0 100 0 0";
        assert_eq!(super::cpu_ticks(line), 533 + 616);
        assert_eq!(super::cpu_ticks(""), 0);
    }
}
