//! Sign-in under attack: concurrent code guessing, bursts of password hashing, telling known
//! from unknown usernames, throttling instead of lockout, and usernames as one name whatever
//! their case or Unicode form.

mod address;
mod burst;
mod counters;
mod migration;
mod throttle;
mod usernames;

use reqwest::Response;
use serde_json::Value;
use std::time::Duration;

/// The error body without its request id (which differs on every answer).
pub fn without_request_id(mut value: Value) -> Value {
    if let Some(error) = value.get_mut("error").and_then(Value::as_object_mut) {
        error.remove("request_id");
    }
    value
}

pub fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// The larger of two durations divided by the smaller.
pub fn ratio(a: Duration, b: Duration) -> f64 {
    let (a, b) = (a.as_secs_f64().max(1e-6), b.as_secs_f64().max(1e-6));
    a.max(b) / a.min(b)
}

pub fn retry_after(response: &Response) -> Option<u64> {
    response.headers().get("retry-after")?.to_str().ok()?.parse().ok()
}
