//! Request validation driven by Plaid's official OpenAPI document.
//!
//! The simulator embeds the same spec subset the tests use (with the fields today's official
//! clients add, see `spec`), so the fields an endpoint accepts, requires and types come from Plaid,
//! not from hand-written lists. Only the top level of a body is
//! checked (unknown fields, missing required fields, JSON type, maxLength, enum, numeric bounds);
//! deeper rules live in the handlers. This module must never accept a field the spec does not list:
//! Plaid rejects unknown fields, and a simulator that ignores them would hide client bugs.

use serde_json::{Map, Value};

use super::errors::PlaidError;
use super::spec::spec;

/// Follows a local `#/components/schemas/X` reference.
fn resolve(schema: &Value) -> &Value {
    let mut current = schema;
    // Bounded so a reference cycle cannot loop forever.
    for _ in 0..32 {
        match current.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let pointer = reference.trim_start_matches('#');
                match spec().pointer(pointer) {
                    Some(target) => current = target,
                    None => return &Value::Null,
                }
            }
            None => return current,
        }
    }
    current
}

/// The flattened view of an object schema: its properties and required names, merged over `allOf`.
#[derive(Default)]
struct ObjectSchema<'a> {
    properties: Map<String, Value>,
    required: Vec<&'a str>,
}

fn flatten<'a>(schema: &'a Value, out: &mut ObjectSchema<'a>) {
    let schema = resolve(schema);
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            out.properties.insert(name.clone(), prop.clone());
        }
    }
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        out.required.extend(required.iter().filter_map(Value::as_str));
    }
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        for part in parts {
            flatten(part, out);
        }
    }
}

/// The request schema of a path, or `None` when the spec does not describe it.
fn request_schema(path: &str) -> Option<&'static Value> {
    spec().get("paths")?.get(path)?.pointer("/post/requestBody/content/application~1json/schema")
}

/// Whether the spec describes this path.
#[cfg(test)]
pub fn spec_has_path(path: &str) -> bool {
    request_schema(path).is_some()
}

/// Checks a request body against the spec's request schema for `path`.
pub fn validate_request(path: &str, body: &Map<String, Value>) -> Result<(), PlaidError> {
    let Some(schema) = request_schema(path) else {
        return Ok(());
    };
    let mut object = ObjectSchema::default();
    flatten(schema, &mut object);

    let mut unknown: Vec<&str> =
        body.keys().map(String::as_str).filter(|k| !object.properties.contains_key(*k)).collect();
    if !unknown.is_empty() {
        unknown.sort_unstable();
        return Err(PlaidError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "UNKNOWN_FIELDS",
            format!("the following fields are not recognized by this endpoint: {}", unknown.join(", ")),
        ));
    }

    let missing: Vec<&str> = object.required.iter().copied().filter(|k| !body.contains_key(*k)).collect();
    if !missing.is_empty() {
        return Err(PlaidError::missing_fields(&missing));
    }

    for (name, value) in body {
        if let Some(prop) = object.properties.get(name) {
            check_field(name, value, prop)?;
        }
    }
    Ok(())
}

/// Type, length, enum and bounds of one top-level field.
fn check_field(name: &str, value: &Value, prop: &Value) -> Result<(), PlaidError> {
    let prop = effective(prop);
    let nullable = prop.get("nullable").and_then(Value::as_bool) == Some(true);
    if value.is_null() {
        return if nullable { Ok(()) } else { Err(PlaidError::invalid_field(format!("{name} must not be null"))) };
    }
    if let Some(ty) = prop.get("type").and_then(Value::as_str) {
        let ok = match ty {
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            _ => true,
        };
        if !ok {
            return Err(PlaidError::invalid_field(format!("{name} must be of type {ty}")));
        }
    }
    if let (Some(s), Some(max)) = (value.as_str(), prop.get("maxLength").and_then(Value::as_u64)) {
        if s.chars().count() as u64 > max {
            return Err(PlaidError::invalid_field(format!("{name} must be at most {max} characters long")));
        }
    }
    if let (Some(s), Some(min)) = (value.as_str(), prop.get("minLength").and_then(Value::as_u64)) {
        if (s.chars().count() as u64) < min {
            return Err(PlaidError::invalid_field(format!("{name} must be at least {min} characters long")));
        }
    }
    if let Some(allowed) = prop.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            let names: Vec<&str> = allowed.iter().filter_map(Value::as_str).collect();
            return Err(PlaidError::invalid_field(format!("{name} must be one of: {}", names.join(", "))));
        }
    }
    if let Some(n) = value.as_f64() {
        let below = prop.get("minimum").and_then(Value::as_f64).is_some_and(|min| n < min);
        let above = prop.get("maximum").and_then(Value::as_f64).is_some_and(|max| n > max);
        if below || above {
            return Err(PlaidError::invalid_field(format!("{name} is out of range")));
        }
    }
    Ok(())
}

/// A property's own schema with `$ref` and single-element `allOf` wrappers unwrapped; the
/// wrapper's `nullable` (if any) is kept, because the spec puts it on either level.
fn effective(prop: &Value) -> Value {
    let resolved = resolve(prop);
    let inner = match resolved.get("allOf").and_then(Value::as_array) {
        Some(parts) if parts.len() == 1 => resolve(&parts[0]),
        _ => resolved,
    };
    let mut out = inner.clone();
    if resolved.get("nullable").and_then(Value::as_bool) == Some(true) {
        out["nullable"] = Value::Bool(true);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn every_mounted_plaid_path_is_in_the_spec() {
        for path in super::super::handlers::PLAID_PATHS {
            assert!(spec_has_path(path), "{path}");
        }
    }

    #[test]
    fn unknown_fields_are_named() {
        let err = validate_request("/item/get", &body(json!({"access_token": "a", "x": 1}))).unwrap_err();
        assert_eq!(err.error_code, "UNKNOWN_FIELDS");
        assert!(err.message.ends_with(": x"));
    }

    #[test]
    fn enum_through_ref_and_all_of_is_checked() {
        let err = validate_request(
            "/transfer/create",
            &body(json!({"access_token": "a", "account_id": "b", "authorization_id": "c",
                "description": "d", "network": "carrier-pigeon"})),
        )
        .unwrap_err();
        assert_eq!(err.error_code, "INVALID_FIELD");
        assert!(err.message.starts_with("network"));
    }

    #[test]
    fn nullable_fields_accept_null_and_bounds_apply() {
        assert!(validate_request("/transfer/event/sync", &body(json!({"after_id": 0, "count": null}))).is_ok());
        let err = validate_request("/transfer/event/sync", &body(json!({"after_id": 0, "count": 501}))).unwrap_err();
        assert!(err.message.starts_with("count"));
    }
}
