//! Keeping secrets out of what warmline stores and shows: errors from LiveKit or a model are
//! kept in `jobs.last_error` and `summaries.error` and served to clients, so they are scrubbed
//! of credentials first.

use secrecy::ExposeSecret;

use crate::config::Config;

/// Shorter values are not scrubbed: they would match ordinary text.
const MIN_SECRET_CHARS: usize = 6;

/// The secret values of this deployment, to be removed from any text stored or shown.
#[derive(Default)]
pub struct Secrets {
    values: Vec<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({} values)", self.values.len())
    }
}

impl Secrets {
    /// The LiveKit secret, the model's key and the database password.
    pub fn from_config(config: &Config) -> Self {
        let mut values = vec![config.livekit.api_secret.expose_secret().to_owned()];
        if let Some(key) = config
            .summary_model
            .as_ref()
            .and_then(|m| m.api_key.as_ref())
        {
            values.push(key.expose_secret().to_owned());
        }
        if let Some(password) = config
            .database_url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
            .and_then(|u| u.password().map(str::to_owned))
        {
            values.push(password);
        }
        values.retain(|v| v.chars().count() >= MIN_SECRET_CHARS);
        Self { values }
    }

    /// `text` with URL credentials and every known secret replaced by `***`.
    pub fn scrub(&self, text: &str) -> String {
        let mut clean = strip_url_credentials(text);
        for value in &self.values {
            clean = clean.replace(value.as_str(), "***");
        }
        clean
    }
}

/// `text` with the `user:password@` part of any URL in it replaced by `***@`.
pub fn strip_url_credentials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let authority_end = tail
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace() || c == ')')
            .unwrap_or(tail.len());
        match tail[..authority_end].rfind('@') {
            Some(userinfo_end) => {
                out.push_str("***");
                rest = &tail[userinfo_end..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_urls_and_known_secrets_are_scrubbed() {
        assert_eq!(
            strip_url_credentials("cannot connect to http://user:pa55@host:1/v1/x (refused)"),
            "cannot connect to http://***@host:1/v1/x (refused)"
        );
        assert_eq!(
            strip_url_credentials("plain http://host/a@b"),
            "plain http://host/a@b"
        );
        let secrets = Secrets {
            values: vec!["sk-very-secret".into()],
        };
        assert_eq!(
            secrets.scrub("Bearer sk-very-secret refused; see https://u:p@x.io"),
            "Bearer *** refused; see https://***@x.io"
        );
    }
}
