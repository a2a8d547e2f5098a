//! OpenAPI 3.0 → JSON Schema, so real simulator responses can be checked against Plaid's spec.

use std::sync::OnceLock;

use countersign::plaid::sim::spec as sim_spec;
use jsonschema::{Draft, Validator};
use serde_json::{json, Map, Value};

pub fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/plaid-openapi-subset.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    })
}

/// Converts one OpenAPI schema object (recursively) into JSON Schema draft 7.
pub fn convert(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => convert_object(map),
        Value::Array(items) => Value::Array(items.iter().map(convert).collect()),
        other => other.clone(),
    }
}

fn convert_object(map: &Map<String, Value>) -> Value {
    let mut out = Map::new();
    for (key, value) in map {
        match key.as_str() {
            // OpenAPI-only keywords the validator does not know or reads differently.
            k if k.starts_with("x-") => {}
            "nullable" | "example" | "externalDocs" | "deprecated" | "discriminator" => {}
            // OpenAPI 3.0 uses a boolean; draft 7 wants the bound itself.
            "exclusiveMinimum" | "exclusiveMaximum" if value.is_boolean() => {
                if value == &Value::Bool(true) {
                    let bound = if key == "exclusiveMinimum" { "minimum" } else { "maximum" };
                    if let Some(b) = map.get(bound) {
                        out.insert(key.clone(), b.clone());
                    }
                }
            }
            "properties" => {
                let props = value
                    .as_object()
                    .map(|p| p.iter().map(|(k, v)| (k.clone(), convert(v))).collect())
                    .unwrap_or_default();
                out.insert(key.clone(), Value::Object(props));
            }
            _ => {
                out.insert(key.clone(), convert(value));
            }
        }
    }
    if map.get("exclusiveMinimum") == Some(&Value::Bool(true)) {
        out.remove("minimum");
    }
    if map.get("exclusiveMaximum") == Some(&Value::Bool(true)) {
        out.remove("maximum");
    }
    if map.get("nullable") == Some(&Value::Bool(true)) {
        return make_nullable(out);
    }
    Value::Object(out)
}

fn make_nullable(mut out: Map<String, Value>) -> Value {
    if let Some(Value::Array(values)) = out.get_mut("enum") {
        if !values.contains(&Value::Null) {
            values.push(Value::Null);
        }
    }
    match out.get("type").cloned() {
        Some(Value::String(t)) => {
            out.insert("type".into(), json!([t, "null"]));
            Value::Object(out)
        }
        // No type to widen (allOf/$ref/anyOf): allow null next to the whole schema.
        _ => json!({"anyOf": [Value::Object(out), {"type": "null"}]}),
    }
}

/// The official snapshot with the fields today's clients add merged in (what the simulator
/// answers to; `fixtures/plaid-newer-fields.json`).
pub fn current_spec() -> &'static Value {
    static CURRENT: OnceLock<Value> = OnceLock::new();
    CURRENT.get_or_init(|| sim_spec::with_newer_fields(spec().clone(), &sim_spec::newer_fields()))
}

/// A validator for `#/components/schemas/{name}` of the current spec, with every component
/// available to `$ref`.
pub fn validator(name: &str) -> Validator {
    static COMPONENTS: OnceLock<Value> = OnceLock::new();
    let components = COMPONENTS.get_or_init(|| convert(&current_spec()["components"]));
    let root = json!({
        "allOf": [{"$ref": format!("#/components/schemas/{name}")}],
        "components": components,
    });
    jsonschema::options()
        .with_draft(Draft::Draft7)
        .should_validate_formats(true)
        .build(&root)
        .unwrap_or_else(|e| panic!("schema {name} does not compile: {e}"))
}

/// The component name of a path's 200 response.
pub fn response_schema_name(path: &str) -> String {
    let reference = spec()["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        .as_str()
        .unwrap_or_else(|| panic!("no 200 schema for {path}"));
    reference.rsplit('/').next().unwrap().to_owned()
}

/// Panics with every schema violation if `instance` does not conform.
pub fn assert_valid(name: &str, instance: &Value) {
    let validator = validator(name);
    let errors: Vec<String> =
        validator.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path)).collect();
    assert!(
        errors.is_empty(),
        "response does not conform to {name}:\n{}\n{}",
        errors.join("\n"),
        serde_json::to_string_pretty(instance).unwrap()
    );
}

/// Checks a real answer: 200 against the path's response schema, anything else against PlaidError
/// (plus the request id every API error carries).
pub fn assert_conforms(path: &str, status: u16, body: &Value) {
    if status == 200 {
        assert_valid(&response_schema_name(path), body);
    } else {
        assert_valid("PlaidError", body);
        assert!(body["request_id"].as_str().is_some_and(|id| !id.is_empty()), "error without request_id: {body}");
    }
}
