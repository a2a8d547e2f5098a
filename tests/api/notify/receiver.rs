//! A real HTTP receiver on loopback that records what it is sent and answers as told, and the
//! official Standard Webhooks library to verify what it got.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Hit {
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Hit {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

/// How the receiver answers the next requests (then 200).
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    Status(u16),
    /// Holds the request without answering (longer than any delivery timeout).
    Hang,
    /// 302 to another URL.
    Redirect(&'static str),
}

#[derive(Default)]
struct Shared {
    hits: Mutex<Vec<Hit>>,
    script: Mutex<VecDeque<Answer>>,
}

pub struct Receiver {
    pub url: String,
    shared: Arc<Shared>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let shared = Arc::new(Shared::default());
        let app = axum::Router::new().fallback(record).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind receiver");
        let url = format!("http://{}/hooks", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, shared }
    }

    /// The next answers, in order; after them the receiver answers 200.
    pub fn answer(&self, answers: &[Answer]) {
        self.shared.script.lock().expect("lock").extend(answers.iter().copied());
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.shared.hits.lock().expect("lock").clone()
    }
}

async fn record(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> axum::response::Response {
    use axum::response::IntoResponse;
    let hit = Hit {
        headers: headers
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), value.to_str().unwrap_or_default().to_owned()))
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    shared.hits.lock().expect("lock").push(hit);
    let answer = shared.script.lock().expect("lock").pop_front();
    match answer {
        Some(Answer::Hang) => {
            tokio::time::sleep(Duration::from_secs(120)).await;
            StatusCode::OK.into_response()
        }
        Some(Answer::Status(status)) => StatusCode::from_u16(status).unwrap_or(StatusCode::OK).into_response(),
        Some(Answer::Redirect(to)) => (StatusCode::FOUND, [(axum::http::header::LOCATION, to)]).into_response(),
        None => StatusCode::OK.into_response(),
    }
}

/// The notify tests' Python (a venv with the pinned official libraries), set up once.
pub fn python() -> String {
    static PYTHON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let root = env!("CARGO_MANIFEST_DIR");
            let output = std::process::Command::new("bash")
                .arg(format!("{root}/tests/notify/setup"))
                .output()
                .expect("tests/notify/setup runs");
            assert!(output.status.success(), "setup failed: {}", String::from_utf8_lossy(&output.stderr));
            String::from_utf8_lossy(&output.stdout).trim().to_owned()
        })
        .clone()
}

/// For each hit, whether the official Standard Webhooks library accepts it under `secret`.
pub fn verified_with(secret: &str, hits: &[Hit]) -> Vec<bool> {
    use std::io::Write;
    let root = env!("CARGO_MANIFEST_DIR");
    let mut child = std::process::Command::new(python())
        .arg(format!("{root}/tests/notify/verify.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("verify.py starts");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        for hit in hits {
            let headers: serde_json::Map<String, Value> =
                hit.headers.iter().map(|(n, v)| (n.clone(), Value::String(v.clone()))).collect();
            let case = json!({ "secret": secret, "headers": headers, "body": hit.body });
            writeln!(stdin, "{case}").expect("write case");
        }
    }
    let output = child.wait_with_output().expect("verify.py ends");
    let text = String::from_utf8_lossy(&output.stdout);
    let verdicts: Vec<bool> = text.lines().map(|line| line == "ok").collect();
    assert_eq!(verdicts.len(), hits.len(), "one verdict per hit: {text}");
    verdicts
}
