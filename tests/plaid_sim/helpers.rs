//! A simulator on port 0 and typed helpers that keep the tests readable.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::HeaderMap;
use countersign::plaid::sim::{RunningSimulator, SimConfig, Simulator};
use serde_json::{json, Value};

use super::schema::assert_conforms;

pub const CLIENT_ID: &str = "sim-client-id";
pub const SECRET: &str = "sim-secret";

pub struct TestSim {
    /// Held for the test's lifetime; the server stops with the test runtime.
    _running: RunningSimulator,
    pub base: String,
    pub http: reqwest::Client,
}

/// The answer to one Plaid call, already checked against Plaid's schema.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    pub fn error_code(&self) -> &str {
        self.body["error_code"].as_str().unwrap_or("")
    }
}

pub struct LinkedItem {
    pub access_token: String,
    pub item_id: String,
    pub checking: String,
    pub savings: String,
}

impl TestSim {
    pub async fn start() -> Self {
        Self::with_config(SimConfig::default()).await
    }

    pub async fn with_config(config: SimConfig) -> Self {
        Self::serve(Simulator::new(config)).await
    }

    /// A simulator whose world is loaded from and saved to `path` (as `plaid-sim --state-file`).
    pub async fn with_state_file(path: &std::path::Path) -> Self {
        Self::serve(Simulator::with_state_file(SimConfig::default(), path).unwrap()).await
    }

    async fn serve(simulator: Simulator) -> Self {
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let running = simulator.spawn(addr).await.unwrap();
        let base = running.base_url();
        Self { _running: running, base, http: reqwest::Client::new() }
    }

    /// A Plaid call with credentials in headers (as official clients send them); the answer is
    /// validated against the spec (200 schema or PlaidError) before the test sees it.
    pub async fn call(&self, path: &str, body: Value) -> Answer {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("PLAID-CLIENT-ID", CLIENT_ID)
            .header("PLAID-SECRET", SECRET)
            .json(&body)
            .send()
            .await
            .unwrap();
        self.answer(path, response).await
    }

    pub async fn answer(&self, path: &str, response: reqwest::Response) -> Answer {
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert_conforms(path, status, &body);
        assert!(body["request_id"].as_str().is_some_and(|id| !id.is_empty()));
        Answer { status, body }
    }

    /// A call that must succeed; returns the body.
    pub async fn ok(&self, path: &str, body: Value) -> Value {
        let answer = self.call(path, body).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        answer.body
    }

    /// Creates and exchanges a sandbox item, optionally with an item webhook.
    pub async fn link_item(&self, webhook: Option<&str>) -> LinkedItem {
        let mut request = json!({"institution_id": "ins_109508", "initial_products": ["transfer"]});
        if let Some(url) = webhook {
            request["options"] = json!({"webhook": url});
        }
        let public = self.ok("/sandbox/public_token/create", request).await;
        let exchanged = self.ok("/item/public_token/exchange", json!({"public_token": public["public_token"]})).await;
        let access_token = exchanged["access_token"].as_str().unwrap().to_owned();
        let accounts = self.ok("/accounts/get", json!({"access_token": access_token})).await;
        let id_of = |subtype: &str| {
            accounts["accounts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["subtype"] == subtype)
                .map(|a| a["account_id"].as_str().unwrap().to_owned())
                .unwrap()
        };
        LinkedItem {
            checking: id_of("checking"),
            savings: id_of("savings"),
            item_id: exchanged["item_id"].as_str().unwrap().to_owned(),
            access_token,
        }
    }

    pub async fn authorize(&self, item: &LinkedItem, transfer_type: &str, amount: &str) -> Answer {
        self.call("/transfer/authorization/create", authorization_request(item, transfer_type, amount)).await
    }

    /// An approved authorization's id.
    pub async fn approved_authorization(&self, item: &LinkedItem, amount: &str) -> String {
        let answer = self.authorize(item, "debit", amount).await;
        assert_eq!(answer.body["authorization"]["decision"], "approved");
        answer.body["authorization"]["id"].as_str().unwrap().to_owned()
    }

    pub async fn create_transfer(&self, item: &LinkedItem, authorization_id: &str) -> Answer {
        self.call(
            "/transfer/create",
            json!({
                "access_token": item.access_token,
                "account_id": item.checking,
                "authorization_id": authorization_id,
                "description": "Invoice 42",
            }),
        )
        .await
    }

    pub async fn set_available(&self, account_id: &str, available: &str) {
        let response = self
            .http
            .post(format!("{}/sim/accounts/balance", self.base))
            .json(&json!({"account_id": account_id, "available": available}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }

    pub async fn arm_fault(&self, endpoint: &str, kind: &str) {
        let response = self
            .http
            .post(format!("{}/sim/faults", self.base))
            .json(&json!({"endpoint": endpoint, "kind": kind, "times": 1}))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
    }

    pub async fn sim_calls(&self, endpoint: &str) -> Vec<Value> {
        self.http
            .get(format!("{}/sim/calls", self.base))
            .query(&[("endpoint", endpoint)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn events(&self) -> Vec<Value> {
        let body = self.ok("/transfer/event/sync", json!({"after_id": 0, "count": 500})).await;
        body["transfer_events"].as_array().unwrap().clone()
    }
}

pub fn authorization_request(item: &LinkedItem, transfer_type: &str, amount: &str) -> Value {
    let ach_class = if transfer_type == "credit" { "ppd" } else { "web" };
    json!({
        "access_token": item.access_token,
        "account_id": item.checking,
        "type": transfer_type,
        "network": "ach",
        "ach_class": ach_class,
        "amount": amount,
        "user": {"legal_name": "Ada Lovelace"},
    })
}

/// One webhook as received: headers and the exact body bytes.
#[derive(Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A tiny webhook receiver on port 0.
pub struct Receiver {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub async fn start() -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let store = received.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let store = store.clone();
                async move {
                    store.lock().unwrap().push(Received { headers, body });
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, received }
    }

    /// Waits (with a deadline, no fixed sleep) for a webhook with this code.
    pub async fn wait_for(&self, code: &str) -> Received {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found = self.received.lock().unwrap().iter().find_map(|r| {
                let body: Value = serde_json::from_slice(&r.body).ok()?;
                (body["webhook_code"] == code).then(|| r.clone())
            });
            if let Some(found) = found {
                return found;
            }
            assert!(Instant::now() < deadline, "no {code} webhook arrived");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
