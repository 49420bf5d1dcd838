//! Request-body helpers. OData bodies are checked against the exact (case-sensitive) property
//! names a route accepts, so a casing mistake (`UserLoginName` for `userLoginName`) is a clear 400
//! instead of a silently ignored field. `@odata.*` annotations are ignored.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::model::{Error, Result, Time, parse_time};

/// The body as a JSON object; an empty body is `{}` unless `required`.
pub fn object(body: &[u8], required: bool) -> Result<Map<String, Value>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return if required { Err(Error::bad_request("a JSON request body is required")) } else { Ok(Map::new()) };
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map.into_iter().filter(|(k, _)| !is_annotation(k)).collect()),
        Ok(_) => Err(Error::bad_request("the request body must be a JSON object")),
        Err(e) => Err(Error::bad_request(format!("invalid JSON body: {e}"))),
    }
}

fn is_annotation(key: &str) -> bool {
    key.starts_with('@') || key.contains("@odata.")
}

/// Refuses properties outside `allowed`, naming the right spelling when only the case differs.
pub fn check_keys(obj: &Map<String, Value>, allowed: &[&str]) -> Result<()> {
    for key in obj.keys() {
        if allowed.contains(&key.as_str()) {
            continue;
        }
        let hint = match allowed.iter().find(|a| a.eq_ignore_ascii_case(key)) {
            Some(right) => format!(" (property names are case-sensitive: '{right}')"),
            None => format!(" (accepted: {})", allowed.join(", ")),
        };
        return Err(Error::bad_request(format!("property '{key}' is not accepted here{hint}")));
    }
    Ok(())
}

pub fn parse<T: DeserializeOwned>(obj: Map<String, Value>) -> Result<T> {
    serde_json::from_value(Value::Object(obj)).map_err(|e| Error::bad_request(format!("invalid request body: {e}")))
}

/// A string property; null or absent is `None`.
pub fn opt_str(obj: &Map<String, Value>, key: &str) -> Result<Option<String>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Error::bad_request(format!("'{key}' must be a string"))),
    }
}

pub fn opt_bool(obj: &Map<String, Value>, key: &str) -> Result<Option<bool>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(Error::bad_request(format!("'{key}' must be true or false"))),
    }
}

/// A number, also accepted as a numeric string (the vendor's PATCH example sends `CEU` as text).
pub fn opt_number(obj: &Map<String, Value>, key: &str) -> Result<Option<f64>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(Value::String(s)) => {
            s.trim().parse::<f64>().map(Some).map_err(|_| Error::bad_request(format!("'{key}' must be a number")))
        }
        Some(_) => Err(Error::bad_request(format!("'{key}' must be a number"))),
    }
}

/// A nullable date-time: absent `None`, null `Some(None)`.
pub fn opt_time(obj: &Map<String, Value>, key: &str) -> Result<Option<Option<Time>>> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => parse_time(s)
            .map(|t| Some(Some(t)))
            .ok_or_else(|| Error::bad_request(format!("'{key}' must be an ISO 8601 date-time, got '{s}'"))),
        Some(_) => Err(Error::bad_request(format!("'{key}' must be a date-time string"))),
    }
}

/// Whether a property is present with a non-null value.
pub fn present(obj: &Map<String, Value>, key: &str) -> bool {
    obj.get(key).is_some_and(|v| !v.is_null())
}
