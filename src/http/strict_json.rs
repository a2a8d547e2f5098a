//! Request bodies as JSON, strictly: the media type parsed (not matched by prefix), duplicate
//! keys refused (serde_json would keep the last one silently, so two readers of one body could
//! disagree), and control characters refused in every string before anything reaches the store.

use crate::domain::text;
use crate::error::Error;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::map::Entry;
use serde_json::{Map, Value};
use std::fmt;

/// Whether a `Content-Type` value names JSON: `application/json`, type and subtype compared
/// case-insensitively, parameters (`; charset=utf-8`) allowed. `+json` types are not accepted:
/// the spec lists `application/json` alone.
pub fn is_json_media_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
}

/// Parses a body: malformed JSON is 400 `malformed_json`, a repeated key 422 `duplicate_key`, a
/// control character (other than newline and tab) or an invisible one (a bidi override, a
/// zero-width space: `text::is_invisible`) in any string or key 422 `invalid_characters`.
pub fn parse(bytes: &[u8]) -> Result<Value, Error> {
    let Strict(value) = serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        // The only data error a `Strict` parse raises is its own: a repeated key.
        serde_json::error::Category::Data => Error::unprocessable("duplicate_key", e.to_string()),
        _ => Error::bad_request("malformed_json", format!("the body is not valid JSON: {e}")),
    })?;
    match refused_character_at(&value) {
        Some(field) => Err(Error::unprocessable(
            "invalid_characters",
            format!(
                "`{field}` contains a control character or an invisible one (such as a bidi override or a \
                 zero-width space); only newline and tab are allowed, in free text"
            ),
        )),
        None => Ok(value),
    }
}

/// The dotted path of the first string (or key) holding a refused character, e.g. `user.legal_name`.
/// The path is only built for a refusal, so a clean body costs one walk and no allocation.
fn refused_character_at(value: &Value) -> Option<String> {
    let mut path = Vec::new();
    if !refused_below(value, &mut path) {
        return None;
    }
    path.reverse();
    Some(if path.is_empty() { "(body)".to_owned() } else { path.join(".") })
}

/// Whether `value` holds a refused character; if so, `path` gets the segments, innermost first.
fn refused_below(value: &Value, path: &mut Vec<String>) -> bool {
    match value {
        Value::String(s) => !text::is_free_text(s),
        Value::Array(items) => items.iter().enumerate().any(|(i, item)| {
            let refused = refused_below(item, path);
            if refused {
                path.push(i.to_string());
            }
            refused
        }),
        Value::Object(map) => map.iter().any(|(key, item)| {
            if !text::is_free_text(key) {
                path.push(key.escape_debug().to_string());
                return true;
            }
            let refused = refused_below(item, path);
            if refused {
                path.push(key.clone());
            }
            refused
        }),
        _ => false,
    }
}

/// A JSON value read in one pass that refuses a key repeated within an object.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Strict, E> {
        Ok(Strict(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Strict, E> {
        Ok(Strict(Value::from(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Strict, E> {
        Ok(Strict(Value::from(v)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Strict, E> {
        Ok(Strict(Value::from(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Strict, E> {
        Ok(Strict(Value::String(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Strict, E> {
        Ok(Strict(Value::String(v)))
    }

    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict(Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Strict(Value::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Strict, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let Strict(item) = access.next_value()?;
            match map.entry(key) {
                Entry::Vacant(slot) => {
                    slot.insert(item);
                }
                Entry::Occupied(slot) => {
                    return Err(de::Error::custom(format_args!("the key {:?} appears more than once", slot.key())));
                }
            }
        }
        Ok(Strict(Value::Object(map)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(body: &str) -> &'static str {
        match parse(body.as_bytes()) {
            Ok(_) => "ok",
            Err(Error::Client { code, .. }) => code,
            Err(Error::Internal(_)) => "internal",
        }
    }

    #[test]
    fn repeated_keys_are_refused_at_any_depth_and_distinct_keys_pass() {
        assert_eq!(code(r#"{"a":1,"b":{"c":[{"d":2,"e":3}]}}"#), "ok");
        assert_eq!(code(r#"{"a":1,"a":1}"#), "duplicate_key");
        assert_eq!(code(r#"{"u":{"n":"x","n":"y"}}"#), "duplicate_key");
        assert_eq!(code(r#"[{"k":1},{"k":2,"k":3}]"#), "duplicate_key");
        assert_eq!(code(r#"{"a":1"#), "malformed_json");
        assert_eq!(code("nope"), "malformed_json");
    }

    #[test]
    fn control_characters_are_refused_in_values_and_keys_naming_where() {
        assert_eq!(code(r#"{"reason":"two\nlines\tok"}"#), "ok");
        let message = |body: &str| match parse(body.as_bytes()) {
            Err(Error::Client { message, .. }) => message,
            other => panic!("{other:?}"),
        };
        assert!(message(r#"{"user":{"legal_name":"A\u0000"}}"#).contains("`user.legal_name`"));
        assert!(message(r#"{"list":["ok","\u001b"]}"#).contains("`list.1`"));
        assert!(message(r#"{"k\u0000":1}"#).contains("`k\\0`"));
        assert!(message(r#""\r""#).contains("(body)"));
    }

    #[test]
    fn the_media_type_is_parsed_not_prefix_matched() {
        for yes in ["application/json", "APPLICATION/JSON", "application/json; charset=utf-8", " application/json ;x=y"]
        {
            assert!(is_json_media_type(yes), "{yes:?}");
        }
        for no in ["application/jsonx", "application/json-seq", "application/problem+json", "text/json", ""] {
            assert!(!is_json_media_type(no), "{no:?}");
        }
    }
}
