//! Parsed input values: once a value has one of these types it is valid.

use chrono::{DateTime, Datelike, Utc};
use serde::Deserialize;

use crate::error::{ApiError, FieldError};

/// Longest identity or name we accept; LiveKit identities are opaque strings, this keeps them sane.
pub const MAX_NAME_CHARS: usize = 128;

/// Trimmed text of 1..=`max` characters with no control characters.
pub fn bounded_text(value: &str, max: usize) -> Result<String, String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err("must not be empty".into());
    }
    if trimmed.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err("must not contain control characters".into());
    }
    Ok(trimmed.to_owned())
}

/// Why text with a NUL character is refused: Postgres cannot store one, in `text` or `jsonb`.
pub const NUL_REFUSED: &str = "must not contain NUL characters (U+0000)";

/// Where a JSON value holds a NUL character, in a string or a key, as a field path
/// (`metadata.k`, `segments[2].text`); `None` when it holds none.
pub fn nul_in_json(value: &serde_json::Value) -> Option<String> {
    fn walk(value: &serde_json::Value, path: &mut String) -> bool {
        match value {
            serde_json::Value::String(s) => s.contains('\0'),
            serde_json::Value::Array(items) => items.iter().enumerate().any(|(i, item)| {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                let found = walk(item, path);
                if !found {
                    path.truncate(len);
                }
                found
            }),
            serde_json::Value::Object(fields) => fields.iter().any(|(key, item)| {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                // The path is shown to the client: the NUL itself is written out.
                path.push_str(&key.replace('\0', "\\u0000"));
                let found = key.contains('\0') || walk(item, path);
                if !found {
                    path.truncate(len);
                }
                found
            }),
            _ => false,
        }
    }
    let mut path = String::new();
    walk(value, &mut path).then(|| if path.is_empty() { "body".into() } else { path })
}

/// Checks an instant a client sent: years 1 to 9999. chrono reads more (`-9999-01-01`), and
/// Postgres refuses what lies beyond its own range, so the line is drawn where RFC 3339 draws it.
pub fn instant(at: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if (1..=9999).contains(&at.year()) {
        Ok(at)
    } else {
        Err(format!("{at} is not between the years 1 and 9999"))
    }
}

/// `at` plus `d`, or the latest instant chrono represents when that would overflow. Settings
/// are clamped at start-up ([`crate::config::MAX_DURATION_SETTING`]), so this is a guard
/// against a panic, never a policy.
pub fn later_by(at: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| at.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `at` minus `d`, saturating at the earliest representable instant.
pub fn earlier_by(at: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| at.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Deserializes a client's instant with [`instant`]'s check (`deserialize_with`), so a query
/// string, a body and a cursor refuse the same values.
pub fn deserialize_instant<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<DateTime<Utc>, D::Error> {
    instant(DateTime::<Utc>::deserialize(deserializer)?).map_err(serde::de::Error::custom)
}

/// [`deserialize_instant`] for an optional instant (with `#[serde(default)]`).
pub fn deserialize_optional_instant<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    Option::<DateTime<Utc>>::deserialize(deserializer)?
        .map(instant)
        .transpose()
        .map_err(serde::de::Error::custom)
}

/// A participant identity as LiveKit sees it (`sub` of a token): 1..=128 characters, one line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity(String);

impl Identity {
    /// Parses a client-supplied identity.
    pub fn parse(value: &str) -> Result<Self, String> {
        let text = bounded_text(value, MAX_NAME_CHARS)?;
        if text.contains(['\n', '\t']) {
            return Err("must be a single line".into());
        }
        Ok(Self(text))
    }

    /// The identity as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The identity, owned.
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Collects every field error of a request, so the client sees all of them at once.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    /// Records the error of `result` under `field`; the value when it is valid.
    pub fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(message) => {
                self.errors.push(FieldError::new(field, message));
                None
            }
        }
    }

    /// Like [`Validator::check`] for an optional input: absent stays absent.
    pub fn check_opt<T, U>(
        &mut self,
        field: &str,
        value: Option<U>,
        parse: impl FnOnce(U) -> Result<T, String>,
    ) -> Option<Option<T>> {
        match value {
            None => Some(None),
            Some(v) => self.check(field, parse(v)).map(Some),
        }
    }

    /// Records a failed rule.
    pub fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// The 422 carrying everything recorded (call when a checked value came back `None`).
    pub fn into_error(self) -> ApiError {
        ApiError::Validation(self.errors)
    }

    /// `Ok` when nothing failed.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.into_error())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_are_trimmed_single_lines_of_bounded_length() {
        assert_eq!(Identity::parse("  agent_a ").unwrap().as_str(), "agent_a");
        assert!(Identity::parse("   ").is_err());
        assert!(Identity::parse("a\nb").is_err());
        assert!(Identity::parse(&"x".repeat(129)).is_err());
        assert!(Identity::parse("a\u{7}b").is_err());
    }

    #[test]
    fn a_nul_anywhere_in_a_json_value_is_found_with_its_path() {
        let clean = serde_json::json!({"a": [1, "x", {"b": null}]});
        assert_eq!(nul_in_json(&clean), None);
        let in_value = serde_json::json!({"metadata": {"k": "a\u{0}b"}});
        assert_eq!(nul_in_json(&in_value).as_deref(), Some("metadata.k"));
        let in_key = serde_json::json!({"metadata": {"k\u{0}": 1}});
        assert_eq!(nul_in_json(&in_key).as_deref(), Some("metadata.k\\u0000"));
        let in_list = serde_json::json!({"segments": [{"text": "ok"}, {"text": "\u{0}"}]});
        assert_eq!(nul_in_json(&in_list).as_deref(), Some("segments[1].text"));
        assert_eq!(
            nul_in_json(&serde_json::json!("\u{0}")).as_deref(),
            Some("body")
        );
    }

    #[test]
    fn instants_outside_the_years_1_to_9999_are_refused() {
        let parse = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert!(instant(parse("2026-11-25T10:00:00Z")).is_ok());
        assert!(instant(parse("0001-01-01T00:00:00Z")).is_ok());
        let ancient: DateTime<Utc> = serde_json::from_str("\"-9999-01-01T00:00:00Z\"").unwrap();
        assert!(instant(ancient).is_err());
    }
}
