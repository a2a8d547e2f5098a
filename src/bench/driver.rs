//! The load: workers pulling cycle numbers from a shared counter, each cycle timed per step.

use anyhow::Context as _;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Plan {
    pub client: reqwest::Client,
    pub bases: Vec<String>,
    pub api_key: String,
    pub session: String,
    pub body: Value,
}

/// Step timings of one cycle.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    pub propose: Duration,
    pub token: Duration,
    pub approve: Duration,
    pub observe: Duration,
    pub cycle: Duration,
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub samples: Vec<Sample>,
    pub errors: Vec<String>,
}

pub fn proposal(item_id: &str, account_id: &str) -> Value {
    json!({
        "item_id": item_id, "account_id": account_id, "type": "debit", "network": "ach", "ach_class": "web",
        "amount": "25.00", "description": "Bench", "user": {"legal_name": "Bench Person"},
        "thread_id": "bench", "reason": "benchmark cycle",
    })
}

pub async fn sign_in(
    client: &reqwest::Client,
    base: &str,
    username: &str,
    password: &str,
    otpauth: &str,
) -> anyhow::Result<String> {
    let totp = totp_rs::TOTP::from_url(otpauth).map_err(|e| anyhow::anyhow!("otpauth: {e:?}"))?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let response: Value = client
        .post(format!("{base}/v1/approver/sessions"))
        .json(&json!({"username": username, "password": password, "totp": totp.generate(now)}))
        .send()
        .await?
        .json()
        .await?;
    response["token"].as_str().map(str::to_owned).context("sign-in failed")
}

async fn post(
    plan: &Plan,
    base: &str,
    path: &str,
    auth: &str,
    key: Option<&str>,
    body: &Value,
) -> anyhow::Result<Value> {
    let mut request = plan.client.post(format!("{base}{path}")).bearer_auth(auth).json(body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await?;
    let status = response.status();
    let value: Value = response.json().await?;
    anyhow::ensure!(status.is_success(), "{path}: {status} {value}");
    Ok(value)
}

async fn cycle(plan: &Plan, n: usize) -> anyhow::Result<Sample> {
    let base = &plan.bases[n % plan.bases.len()];
    let start = Instant::now();
    let key = uuid::Uuid::new_v4().to_string();
    let created = post(plan, base, "/v1/transfers", &plan.api_key, Some(&key), &plan.body).await?;
    let propose = start.elapsed();
    anyhow::ensure!(created["state"] == "pending_approval", "proposal not pending: {}", created["state"]);
    let id = created["id"].as_str().context("id")?;
    let t = Instant::now();
    let grant = post(
        plan,
        base,
        &format!("/v1/transfers/{id}/approval-token"),
        &plan.session,
        None,
        &json!({"payload_hash": created["payload_hash"]}),
    )
    .await?;
    let token = t.elapsed();
    let t = Instant::now();
    post(
        plan,
        base,
        &format!("/v1/transfers/{id}/approve"),
        &plan.session,
        None,
        &json!({"approval_token": grant["approval_token"]}),
    )
    .await?;
    let approve = t.elapsed();
    let t = Instant::now();
    let seen: Value = plan
        .client
        .get(format!("{base}/v1/transfers/{id}?wait=10"))
        .bearer_auth(&plan.api_key)
        .send()
        .await?
        .json()
        .await?;
    anyhow::ensure!(seen["state"] == "submitted", "cycle ended {}", seen["state"]);
    Ok(Sample { propose, token, approve, observe: t.elapsed(), cycle: start.elapsed() })
}

pub(super) async fn run<F, Fut>(total: usize, concurrency: usize, work: F) -> Outcome
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<Sample>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let work = Arc::new(work);
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (next, work) = (next.clone(), work.clone());
        workers.push(tokio::spawn(async move {
            let mut outcome = Outcome::default();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    return outcome;
                }
                match work(n).await {
                    Ok(sample) => outcome.samples.push(sample),
                    Err(error) => outcome.errors.push(error.to_string()),
                }
            }
        }));
    }
    let mut all = Outcome::default();
    for worker in workers {
        if let Ok(outcome) = worker.await {
            all.samples.extend(outcome.samples);
            all.errors.extend(outcome.errors);
        }
    }
    all
}

/// Open-loop load: call `n` is due at `n / rate` seconds after the start whether or not earlier
/// calls have answered, with at most `concurrency` in flight. A call's time runs from when it
/// was due, so waiting for a free slot (or for the runtime to start it) counts against it: a
/// slow answer cannot hide the calls it delayed.
pub(super) async fn run_at_rate<F, Fut>(total: usize, concurrency: usize, rate: f64, work: F) -> Outcome
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<Sample>> + Send + 'static,
{
    let slots = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let start = tokio::time::Instant::now();
    let mut calls = tokio::task::JoinSet::new();
    for n in 0..total {
        let due = start + Duration::from_secs_f64(n as f64 / rate.max(f64::MIN_POSITIVE));
        tokio::time::sleep_until(due).await;
        let Ok(slot) = slots.clone().acquire_owned().await else { break };
        let call = work(n);
        calls.spawn(async move {
            let answered = call.await;
            drop(slot);
            answered.map(|sample| Sample { cycle: due.elapsed(), ..sample })
        });
    }
    let mut all = Outcome::default();
    while let Some(joined) = calls.join_next().await {
        match joined {
            Ok(Ok(sample)) => all.samples.push(sample),
            Ok(Err(error)) => all.errors.push(error.to_string()),
            Err(error) => all.errors.push(error.to_string()),
        }
    }
    all
}

pub async fn run_cycles(plan: &Plan, total: usize, concurrency: usize) -> anyhow::Result<Outcome> {
    let plan = Arc::new(Plan {
        client: plan.client.clone(),
        bases: plan.bases.clone(),
        api_key: plan.api_key.clone(),
        session: plan.session.clone(),
        body: plan.body.clone(),
    });
    Ok(run(total, concurrency, move |n| {
        let plan = plan.clone();
        async move { cycle(&plan, n).await }
    })
    .await)
}

/// Proposals only, left pending (for the RSS-with-pending measurement).
pub async fn run_proposals(plan: &Plan, total: usize, concurrency: usize) -> anyhow::Result<Outcome> {
    let plan = Arc::new(Plan {
        client: plan.client.clone(),
        bases: plan.bases.clone(),
        api_key: plan.api_key.clone(),
        session: plan.session.clone(),
        body: plan.body.clone(),
    });
    Ok(run(total, concurrency, move |n| {
        let plan = plan.clone();
        async move {
            let base = &plan.bases[n % plan.bases.len()];
            let start = Instant::now();
            post(&plan, base, "/v1/transfers", &plan.api_key, Some(&uuid::Uuid::new_v4().to_string()), &plan.body)
                .await?;
            Ok(Sample { propose: start.elapsed(), cycle: start.elapsed(), ..Sample::default() })
        }
    })
    .await)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each call takes 5 ms and one may be in flight while one is due every millisecond: the
    /// calls queue, and each one's time must include its wait from when it was due.
    #[tokio::test]
    async fn an_open_loop_counts_the_wait_of_calls_a_slow_one_delayed() {
        let outcome = run_at_rate(20, 1, 1000.0, |_| async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok(Sample::default())
        })
        .await;
        assert_eq!((outcome.samples.len(), outcome.errors.len()), (20, 0));
        let slowest = outcome.samples.iter().map(|s| s.cycle).max().unwrap_or_default();
        // The last call is due at 19 ms and answered after 20 × 5 ms at the earliest.
        assert!(slowest >= Duration::from_millis(100 - 19), "slowest {slowest:?}");
    }

    #[tokio::test]
    async fn an_open_loop_offers_calls_at_its_rate_not_faster() {
        let started = Instant::now();
        let outcome = run_at_rate(21, 4, 1000.0, |_| async { Ok(Sample::default()) }).await;
        assert_eq!(outcome.samples.len(), 21);
        assert!(started.elapsed() >= Duration::from_millis(20), "took {:?}", started.elapsed());
    }
}
