//! `openapi.yaml` and the router must agree: every route documented, every documented route served,
//! every error response in the documented shape.

use crate::helpers::{spawn_app, Db};
use serde_json::Value;
use std::collections::BTreeSet;

fn spec() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml")).expect("openapi.yaml");
    serde_yaml::from_str(&text).expect("openapi.yaml parses")
}

fn documented() -> BTreeSet<(String, String)> {
    let spec = spec();
    let mut routes = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            routes.insert((method.clone(), path.clone()));
        }
    }
    routes
}

#[test]
fn every_route_is_documented_and_every_documented_route_exists() {
    let served: BTreeSet<(String, String)> =
        countersign::http::routes().table().iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    let documented = documented();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let missing: Vec<_> = documented.difference(&served).collect();
    assert!(undocumented.is_empty(), "routes missing from openapi.yaml: {undocumented:?}");
    assert!(missing.is_empty(), "openapi.yaml documents routes the router lacks: {missing:?}");
}

#[test]
fn every_error_response_uses_the_error_schema() {
    let spec = spec();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            for (status, response) in operation["responses"].as_object().expect("responses") {
                let code: u16 = status.parse().expect("numeric status");
                if code >= 400 && !(path == "/readyz" && code == 503) {
                    assert_eq!(response["$ref"], "#/components/responses/Error", "{method} {path} {status}");
                }
            }
        }
    }
}

/// Each table entry really answers on the live server (not the fallback's 404 or 405).
#[tokio::test]
async fn every_route_in_the_table_is_served() {
    let app = spawn_app(Db::Sqlite).await;
    for (method, path) in countersign::http::routes().table() {
        let url = format!("{}{}", app.address, path.replace("{id}", "tr_0190f3c2a1b27c3d8e9f0a1b2c3d4e5f"));
        let request = match *method {
            "get" => app.client.get(url),
            "post" => app.client.post(url),
            "delete" => app.client.delete(url),
            other => panic!("unexpected method {other}"),
        };
        let response = request.send().await.expect("sent");
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let fallback = status == 405 || (status == 404 && body["error"]["message"] == "route not found");
        assert!(!fallback, "{method} {path} is not routed ({status})");
    }
    app.stop().await;
}

/// A validator for one of `openapi.yaml`'s component schemas, every component reachable by `$ref`.
fn component_validator(name: &str) -> jsonschema::Validator {
    let spec = spec();
    let root = serde_json::json!({
        "allOf": [{"$ref": format!("#/components/schemas/{name}")}],
        "components": spec["components"],
    });
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .build(&root)
        .unwrap_or_else(|e| panic!("schema {name} does not compile: {e}"))
}

/// The spec and the service agree on proposals at the edges: what the schema allows is created,
/// what it forbids is refused (schemathesis explores the rest; see tests/schemathesis/run).
async fn the_proposal_schema_and_the_service_agree(db: Db) {
    let app = spawn_app(db).await;
    let schema = component_validator("Proposal");
    let edit = |pointer: &str, value: Value| {
        let mut proposal = app.proposal("25.00");
        match pointer {
            "-ach_class" => {
                proposal.as_object_mut().expect("object").remove("ach_class");
            }
            _ => *proposal.pointer_mut(pointer).expect("field") = value,
        }
        proposal
    };
    let mut wire = edit("/type", "credit".into());
    wire["network"] = "wire".into();
    wire.as_object_mut().expect("object").remove("ach_class");
    let cases = [
        (app.proposal("25.00"), true),
        (app.proposal("0.01"), true),
        (app.proposal("99999999999.99"), true),
        (wire, true),
        (edit("/reason", "two lines\nand a\ttab".into()), true),
        (app.proposal("0.00"), false),
        (app.proposal("1.5"), false),
        (edit("/account_id", "".into()), false),
        (edit("/user/legal_name", "   ".into()), false),
        (edit("/user/legal_name", "Ada\nLovelace".into()), false),
        (edit("/thread_id", "t\u{85}".into()), false),
        (edit("/reason", "nul\u{0}".into()), false),
        (edit("/description", "eleven char".into()), false),
        (edit("/description", "café".into()), false),
        (edit("/network", "wire".into()), false),
        (edit("-ach_class", Value::Null), false),
        (edit("/item_id", "it_nothex".into()), false),
    ];
    for (proposal, valid) in cases {
        assert_eq!(schema.is_valid(&proposal), valid, "schema on {proposal}");
        let (status, value) = crate::helpers::body(app.propose(&proposal).await).await;
        assert_eq!(status.as_u16() == 201, valid, "service on {proposal}: {status} {value}");
        if !valid {
            assert_eq!(status.as_u16(), 422, "{proposal}: {value}");
        }
    }
    app.stop().await;
}

crate::on_both_backends!(the_proposal_schema_and_the_service_agree);
