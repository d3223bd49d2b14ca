//! Parsed input values: once a value has one of these types it is valid.

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
}
