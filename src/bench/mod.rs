//! `countersign bench`: the full approval cycle under load, measured against the database's own
//! ceiling in the same run. On demand only (CI runs it once, small, to prove it works).
//!
//! It starts the Plaid simulator and the service (1 or more replicas) as separate processes,
//! prepares an item, an agent and an approver, drives N cycles at concurrency C over HTTP
//! (propose → approval token → approve → observe `submitted`), and reports latencies, throughput,
//! the service's peak RSS, database commits per cycle, and single-row durable commits per second
//! of the same database at the same concurrency.

mod ceiling;
mod driver;
mod processes;
mod reads;
mod report;
mod statements;

use crate::config::Settings;
use crate::crypto::MasterKey;
use crate::service::{approvers, registry};
use anyhow::Context as _;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Full cycles to measure (after a short warm-up).
    #[arg(long, default_value_t = 2000)]
    pub cycles: usize,
    /// Cycles in flight at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// A PostgreSQL server URL (a fresh database is created on it); SQLite in a temp dir by default.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Service processes sharing the database.
    #[arg(long, default_value_t = 1)]
    pub replicas: usize,
    /// Also leave this many requests pending and report the service's RSS with them.
    #[arg(long, default_value_t = 0)]
    pub pending: usize,
    /// Seconds to measure the database's single-row commit ceiling.
    #[arg(long, default_value_t = 3)]
    pub ceiling_secs: u64,
    /// Write the JSON report here as well.
    #[arg(long)]
    pub json_out: Option<std::path::PathBuf>,
    /// Measure tier-0 reads through the Plaid read gateway (`--cycles` reads) instead of the
    /// approval cycle, beside the simulator's own time for the same call.
    #[arg(long)]
    pub reads: bool,
    /// With `--reads`: offer this many reads a second (open loop, at most `--concurrency` in
    /// flight) instead of as many as the service answers, so latency is measured at a load the
    /// machine can carry rather than at saturation, where it is queueing (Little's law).
    #[arg(long, requires = "reads")]
    pub rate: Option<f64>,
    /// Run the cycle under a policy with a window (24 h per agent and account, set too high to
    /// escalate the bench's debits): proposals then check their windows under a lock, one
    /// agent's and one account's at a time, as under the built-in policy.
    #[arg(long, conflicts_with = "reads")]
    pub windows: bool,
}

/// The bench's policy: the thresholds alone, or with [`BenchArgs::windows`] a window too.
fn policy_source(windows: bool) -> &'static str {
    if windows {
        "label = \"bench: thresholds and a window that never escalates\"\n\
         [[rule]]\nname = \"bench window\"\n\
         when.window = { scope = \"agent_account\", period = \"24h\", total_at_least = \"1000000000.00\" }\n\
         then.tier = 3\n"
    } else {
        "label = \"bench: thresholds only, no window\"\n"
    }
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.reads {
        return reads::run(args).await;
    }
    let dir = tempfile_dir()?;
    let database_url = match &args.database_url {
        Some(server) => processes::fresh_postgres_database(server).await?,
        None => format!("sqlite://{}?mode=rwc", dir.join("bench.db").display()),
    };
    let sim = processes::start_simulator().await?;
    let master_key = MasterKey::generate_base64();

    // Operator set-up through the library, on the database the service will use.
    let settings = Settings {
        database_url: database_url.clone(),
        plaid_base_url: Some(sim.base_url.clone()),
        master_key: Some(master_key.clone().into()),
        data_dir: dir.clone(),
        audit_anchor_dir: dir.clone(),
        ..Settings::from_env().context("settings")?
    };
    let (ctx, _) = crate::startup::connect(&settings).await?;
    let item = registry::add_sandbox_item(&ctx).await?;
    let account =
        crate::store::items::accounts(ctx.store.reader(), &item).await?.into_iter().next().context("account")?;
    let agent = registry::add_agent(&ctx.store, "bench-agent", "bench-owner", None).await?;
    let approver = approvers::add_approver(
        &ctx.store,
        &ctx.master_key,
        "bench-approver",
        "approver",
        Some("bench password 123"),
        None,
    )
    .await?;
    ctx.store.close().await;

    // The cycle measured is one agent's tier-2 debits to one account, repeated: the built-in policy's
    // 24 h anti-splitting window would turn all but the first few into tier 3 (step-up and quorum),
    // another cycle. The bench runs under the thresholds alone (or a window that never escalates,
    // `--windows`) and says so.
    let policy_file = dir.join("bench-policy.toml");
    std::fs::write(&policy_file, policy_source(args.windows))?;
    let policy_env = policy_file.display().to_string();
    // The run's own data directory: its audit anchors belong to this database alone.
    let data_env = dir.display().to_string();
    let env = [
        ("COUNTERSIGN_POLICY_FILE", policy_env.as_str()),
        ("COUNTERSIGN_DATA_DIR", data_env.as_str()),
        ("COUNTERSIGN_AUDIT_ANCHOR_DIR", data_env.as_str()),
    ];
    let services = processes::start_services(args.replicas, &database_url, &sim.base_url, &master_key, &env).await?;
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency * 2).build()?;
    let plan = driver::Plan {
        client: client.clone(),
        bases: services.iter().map(|s| s.base_url.clone()).collect(),
        api_key: agent.api_key,
        session: driver::sign_in(
            &client,
            &services[0].base_url,
            "bench-approver",
            "bench password 123",
            &approver.otpauth_uri,
        )
        .await?,
        body: driver::proposal(&item.to_string(), &account.account_id),
    };

    let warmup = args.concurrency.max(8);
    driver::run_cycles(&plan, warmup, args.concurrency).await?;
    let mut statements = match &args.database_url {
        Some(_) => statements::StatementCount::open(&database_url).await,
        None => None,
    };
    if let Some(counter) = statements.as_mut() {
        counter.reset().await?;
    }
    let cpu = || {
        let service: u64 = services.iter().map(|s| processes::cpu_ms(s.pid)).sum();
        (service, processes::cpu_ms(sim.pid))
    };
    let cpu_before = cpu();
    let commits_before = processes::commits(&client, &services).await?;
    let started = Instant::now();
    let measured = driver::run_cycles(&plan, args.cycles, args.concurrency).await?;
    let elapsed = started.elapsed();
    let commits = processes::commits(&client, &services).await? - commits_before;
    let cpu_after = cpu();
    let costs = report::Costs {
        statements: match statements.as_mut() {
            Some(counter) => Some(counter.since_reset().await?),
            None => None,
        },
        service_cpu_ms: cpu_after.0 - cpu_before.0,
        simulator_cpu_ms: cpu_after.1 - cpu_before.1,
    };
    drop(statements);
    let peak_rss_kb = services.iter().map(|s| processes::rss_kb(s.pid, "VmHWM")).max().unwrap_or(0);

    let pending_rss_kb = if args.pending > 0 {
        driver::run_proposals(&plan, args.pending, args.concurrency).await?;
        Some(services.iter().map(|s| processes::rss_kb(s.pid, "VmRSS")).max().unwrap_or(0))
    } else {
        None
    };

    let transfers = processes::transfers_at_simulator(&client, &sim.base_url).await?;
    let audit_chain = verify_audit_chain(&settings).await?;
    let ceiling = ceiling::measure(&database_url, args.concurrency, Duration::from_secs(args.ceiling_secs)).await?;
    let summary = report::Summary::new(
        &args,
        &measured,
        elapsed,
        commits,
        costs,
        peak_rss_kb,
        pending_rss_kb,
        ceiling,
        transfers,
        warmup,
    );
    let summary = report::Summary { audit_chain, ..summary };
    println!("{}", summary.table());
    let json = serde_json::to_string_pretty(&summary)?;
    println!("{json}");
    if let Some(path) = &args.json_out {
        std::fs::write(path, &json)?;
    }
    drop(services);
    drop(sim);
    let _ = std::fs::remove_dir_all(&dir);
    summary.check()
}

/// The audit chain as the run left it, verified from genesis ("verified: N records" or the break).
async fn verify_audit_chain(settings: &Settings) -> anyhow::Result<String> {
    let (ctx, _) = crate::startup::connect(settings).await?;
    let verdict = match crate::service::audit_upkeep::verify_live(&ctx, &[]).await? {
        Ok(summary) => format!("verified: {} records", summary.records),
        Err(broken) => format!("BROKEN: {broken}"),
    };
    ctx.store.close().await;
    Ok(verdict)
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("countersign-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use crate::domain::Policy;

    #[test]
    fn the_bench_policy_has_a_window_only_when_asked() {
        let with = Policy::from_toml(super::policy_source(true)).expect("the window policy parses");
        assert_eq!(with.lookback_secs(), 24 * 3600);
        let without = Policy::from_toml(super::policy_source(false)).expect("the thresholds policy parses");
        assert_eq!(without.lookback_secs(), 0);
    }
}
