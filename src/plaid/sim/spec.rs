//! Plaid's API as the simulator knows it: the official spec snapshot (`fixtures/plaid-openapi-subset.json`,
//! 2020-09-14_1.697.4) with the fields today's official clients add merged in
//! (`fixtures/plaid-newer-fields.json`, read from plaid-python 46 and npm plaid 47).
//!
//! Request validation and the response-shape tests both read this one merged document, so a field
//! the current clients send is accepted and a field they require is checked. This module must never
//! drop or loosen anything the official snapshot says: the newer fields only add.

use std::sync::OnceLock;

use serde_json::{Map, Value};

const SUBSET_JSON: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/plaid-openapi-subset.json"));
const NEWER_FIELDS_JSON: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/plaid-newer-fields.json"));

/// The merged spec, or `Null` if an embedded file were ever broken (then every body is accepted
/// unchecked and an error is logged, rather than panicking inside a request).
pub fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let parsed = serde_json::from_str(SUBSET_JSON)
            .and_then(|subset| Ok((subset, serde_json::from_str::<Value>(NEWER_FIELDS_JSON)?)));
        match parsed {
            Ok((subset, newer)) => with_newer_fields(subset, &newer),
            Err(e) => {
                tracing::error!(error = %e, "embedded Plaid spec does not parse");
                Value::Null
            }
        }
    })
}

/// `spec` with each entry of `newer["schemas"]` merged into the component schema of the same
/// name: its `properties` added (an official property of the same name is kept), its `required`
/// names and `enum` values appended.
pub fn with_newer_fields(mut spec: Value, newer: &Value) -> Value {
    let Some(additions) = newer.get("schemas").and_then(Value::as_object) else {
        return spec;
    };
    for (name, addition) in additions {
        let Some(schema) = spec.pointer_mut(&format!("/components/schemas/{name}")).and_then(Value::as_object_mut)
        else {
            tracing::error!(schema = %name, "newer fields name a schema the spec does not have");
            continue;
        };
        if let Some(properties) = addition.get("properties").and_then(Value::as_object) {
            let target = schema.entry("properties").or_insert_with(|| Value::Object(Map::new()));
            if let Some(target) = target.as_object_mut() {
                for (field, field_schema) in properties {
                    target.entry(field.clone()).or_insert_with(|| field_schema.clone());
                }
            }
        }
        for key in ["required", "enum"] {
            if let Some(added) = addition.get(key).and_then(Value::as_array) {
                let target = schema.entry(key).or_insert_with(|| Value::Array(Vec::new()));
                if let Some(list) = target.as_array_mut() {
                    for value in added {
                        if !list.contains(value) {
                            list.push(value.clone());
                        }
                    }
                }
            }
        }
    }
    spec
}

/// The newer-fields document as embedded (tests merge it into the spec they validate against).
pub fn newer_fields() -> Value {
    serde_json::from_str(NEWER_FIELDS_JSON).unwrap_or(Value::Null)
}
