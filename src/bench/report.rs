//! Percentiles, the printed table and the JSON report.

use super::driver::{Outcome, Sample};
use super::processes::Commits;
use super::BenchArgs;
use serde::Serialize;
use std::time::Duration;

#[derive(Debug, Serialize)]
pub struct Percentiles {
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

pub(super) fn percentiles(samples: &[Sample], pick: impl Fn(&Sample) -> Duration) -> Percentiles {
    let mut values: Vec<f64> = samples.iter().map(|s| pick(s).as_secs_f64() * 1000.0).collect();
    values.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| {
        if values.is_empty() {
            return 0.0;
        }
        let index = ((values.len() as f64 - 1.0) * q).round() as usize;
        (values[index.min(values.len() - 1)] * 1000.0).round() / 1000.0
    };
    Percentiles { p50_ms: at(0.50), p95_ms: at(0.95), p99_ms: at(0.99) }
}

/// What the measured cycles cost besides time.
pub struct Costs {
    /// PostgreSQL's statements (`pg_stat_statements`), when counted.
    pub statements: Option<Vec<super::statements::Statement>>,
    /// CPU the service process(es) and the simulator used.
    pub service_cpu_ms: u64,
    pub simulator_cpu_ms: u64,
}

/// How many statements of one kind a cycle ran.
#[derive(Debug, Serialize)]
pub struct StatementShare {
    pub per_cycle: f64,
    pub query: String,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub database: &'static str,
    /// Whether the policy had a window (`--windows`): proposals then lock their windows.
    pub policy_windows: bool,
    pub replicas: usize,
    pub concurrency: usize,
    pub cycles: usize,
    pub errors: usize,
    pub first_errors: Vec<String>,
    pub seconds: f64,
    pub cycles_per_second: f64,
    pub propose: Percentiles,
    pub approval_token: Percentiles,
    pub approve_and_create: Percentiles,
    pub observe_submitted: Percentiles,
    pub cycle: Percentiles,
    pub service_peak_rss_mb: f64,
    pub service_rss_with_pending_mb: Option<f64>,
    pub pending_requests: usize,
    /// Transactions committed per cycle.
    pub db_commits_per_cycle: f64,
    /// COMMITs the database executed per cycle (SQLite groups transactions into one).
    pub db_physical_commits_per_cycle: f64,
    /// Statements PostgreSQL executed per cycle (`pg_stat_statements`, the service's only).
    pub db_statements_per_cycle: Option<f64>,
    /// The statements that make up most of them, per cycle.
    pub db_top_statements: Vec<StatementShare>,
    /// Statements handed to SQLite's writer thread per cycle, one hand-off each.
    pub sqlite_writer_handoffs_per_cycle: f64,
    /// CPU the service used per cycle (all replicas), and the simulator.
    pub service_cpu_ms_per_cycle: f64,
    pub simulator_cpu_ms_per_cycle: f64,
    pub db_single_row_commits_per_second: f64,
    /// The cycle rate the database allows at this many physical commits per cycle.
    pub db_bound_cycles_per_second: f64,
    /// Achieved cycles/s over the database-bound cycles/s.
    pub fraction_of_db_bound: f64,
    pub transfers_at_simulator: usize,
    pub expected_transfers: usize,
    /// The audit chain verified from genesis after the run, or where it breaks.
    pub audit_chain: String,
}

impl Summary {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        args: &BenchArgs,
        outcome: &Outcome,
        elapsed: Duration,
        commits: Commits,
        costs: Costs,
        peak_rss_kb: u64,
        pending_rss_kb: Option<u64>,
        ceiling: f64,
        transfers: usize,
        warmup: usize,
    ) -> Self {
        let done = outcome.samples.len();
        let cycles_per_second = done as f64 / elapsed.as_secs_f64();
        let per_cycle = |count: u64| if done > 0 { count as f64 / done as f64 } else { 0.0 };
        let (commits_per_cycle, physical_per_cycle) = (per_cycle(commits.logical), per_cycle(commits.physical));
        let bound = if physical_per_cycle > 0.0 { ceiling / physical_per_cycle } else { 0.0 };
        let round = |x: f64| (x * 100.0).round() / 100.0;
        Self {
            database: if args.database_url.is_some() { "postgresql" } else { "sqlite" },
            policy_windows: args.windows,
            replicas: args.replicas,
            concurrency: args.concurrency,
            cycles: done,
            errors: outcome.errors.len(),
            first_errors: outcome.errors.iter().take(3).cloned().collect(),
            seconds: round(elapsed.as_secs_f64()),
            cycles_per_second: round(cycles_per_second),
            propose: percentiles(&outcome.samples, |s| s.propose),
            approval_token: percentiles(&outcome.samples, |s| s.token),
            approve_and_create: percentiles(&outcome.samples, |s| s.approve),
            observe_submitted: percentiles(&outcome.samples, |s| s.observe),
            cycle: percentiles(&outcome.samples, |s| s.cycle),
            service_peak_rss_mb: round(peak_rss_kb as f64 / 1024.0),
            service_rss_with_pending_mb: pending_rss_kb.map(|kb| round(kb as f64 / 1024.0)),
            pending_requests: args.pending,
            db_commits_per_cycle: round(commits_per_cycle),
            db_physical_commits_per_cycle: round(physical_per_cycle),
            db_statements_per_cycle: costs
                .statements
                .as_ref()
                .map(|all| round(per_cycle(all.iter().map(|s| s.calls.max(0) as u64).sum()))),
            db_top_statements: costs
                .statements
                .unwrap_or_default()
                .into_iter()
                .take(20)
                .map(|s| StatementShare { per_cycle: round(per_cycle(s.calls.max(0) as u64)), query: s.query })
                .collect(),
            sqlite_writer_handoffs_per_cycle: round(per_cycle(commits.writer_handoffs)),
            service_cpu_ms_per_cycle: round(per_cycle(costs.service_cpu_ms)),
            simulator_cpu_ms_per_cycle: round(per_cycle(costs.simulator_cpu_ms)),
            db_single_row_commits_per_second: round(ceiling),
            db_bound_cycles_per_second: round(bound),
            fraction_of_db_bound: if bound > 0.0 { round(cycles_per_second / bound) } else { 0.0 },
            transfers_at_simulator: transfers,
            expected_transfers: done + warmup,
            audit_chain: String::new(),
        }
    }

    pub fn table(&self) -> String {
        let row =
            |name: &str, p: &Percentiles| format!("{name:<22} {:>9.2} {:>9.2} {:>9.2}\n", p.p50_ms, p.p95_ms, p.p99_ms);
        let mut out = format!(
            "\n{} ({} replica(s)), concurrency {}: {} cycles in {:.2} s = {:.1} cycles/s, {} errors\n\n{:<22} {:>9} {:>9} {:>9}\n",
            self.database, self.replicas, self.concurrency, self.cycles, self.seconds, self.cycles_per_second, self.errors, "step (ms)", "p50", "p95", "p99"
        );
        out += &row("propose", &self.propose);
        out += &row("approval token", &self.approval_token);
        out += &row("approve + create", &self.approve_and_create);
        out += &row("observe submitted", &self.observe_submitted);
        out += &row("whole cycle", &self.cycle);
        out += &format!(
            "\nper cycle: service CPU {:.2} ms (simulator {:.2} ms); {}\n",
            self.service_cpu_ms_per_cycle,
            self.simulator_cpu_ms_per_cycle,
            match self.db_statements_per_cycle {
                Some(n) => format!("{n:.2} PostgreSQL statements"),
                None if self.database == "sqlite" => {
                    format!("{:.2} hand-offs to SQLite's writer", self.sqlite_writer_handoffs_per_cycle)
                }
                None => "statements not counted (pg_stat_statements is not preloaded)".into(),
            }
        );
        out += &format!(
            "\nservice peak RSS {:.1} MB{}; {:.2} commits/cycle in {:.2} physical; database ceiling {:.0} single-row commits/s → {:.0} cycles/s bound; achieved {:.0}% of it\nexactly once: {} transfers at the simulator for {} cycles; audit chain {}\n",
            self.service_peak_rss_mb,
            self.service_rss_with_pending_mb.map(|mb| format!(", {mb:.1} MB with {} pending", self.pending_requests)).unwrap_or_default(),
            self.db_commits_per_cycle,
            self.db_physical_commits_per_cycle,
            self.db_single_row_commits_per_second,
            self.db_bound_cycles_per_second,
            self.fraction_of_db_bound * 100.0,
            self.transfers_at_simulator,
            self.expected_transfers,
            self.audit_chain,
        );
        out
    }

    /// Fails the command when a cycle failed, the simulator saw other than one transfer per cycle,
    /// or the audit chain does not verify.
    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.errors == 0, "{} cycles failed: {:?}", self.errors, self.first_errors);
        anyhow::ensure!(self.audit_chain.starts_with("verified"), "audit chain {}", self.audit_chain);
        anyhow::ensure!(
            self.transfers_at_simulator == self.expected_transfers,
            "the simulator created {} transfers for {} cycles",
            self.transfers_at_simulator,
            self.expected_transfers
        );
        Ok(())
    }
}
