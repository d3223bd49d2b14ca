//! Settings from the environment (and `.env`), each with a default that works on a laptop.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, bail};
use secrecy::SecretString;

/// Where `DATABASE_URL` points when it is not set: the machine's own Postgres.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/warmline";

/// The range `DATABASE_ACQUIRE_TIMEOUT_MS` is clamped to: below it a busy but healthy pool
/// turns requests away; above it a request waits on a database that is down.
pub const DATABASE_ACQUIRE_TIMEOUT_BOUNDS: (Duration, Duration) =
    (Duration::from_millis(100), Duration::from_secs(30));

/// The longest any duration setting is taken to be; a larger value is clamped to it at start-up.
/// Deadlines are instants computed from these (`now + setting`), and no timer of a call or a
/// transfer makes sense beyond a month, while an unbounded one overflows the arithmetic.
pub const MAX_DURATION_SETTING: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// How a `connecting` transfer becomes `completed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoffConfirmation {
    /// Only once the receiving side is seen in the room (webhook or live participant check).
    Observed,
    /// On the completing agent's word, recorded as unconfirmed.
    Agent,
}

/// Everything the service reads from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: IpAddr,
    pub port: u16,
    /// `None` means: the default local server, with the embedded-cluster fallback.
    pub database_url: Option<String>,
    pub database_max_connections: u32,
    /// How long a request waits for a pooled connection before it is answered 503.
    pub database_acquire_timeout: Duration,
    pub auto_migrate: bool,
    pub data_dir: std::path::PathBuf,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub transcript_grace: Duration,
    /// A call no agent has joined by then ends.
    pub call_unanswered_timeout: Duration,
    /// How long the response to a POST with an `Idempotency-Key` is kept and replayed.
    pub idempotency_key_ttl: Duration,
    /// How often the event reader looks for new events when no notification wakes it.
    pub event_stream_poll: Duration,
    /// Events that may wait for the slowest event stream; a stream further behind is closed
    /// (its client resumes with `Last-Event-ID`).
    pub event_stream_buffer: usize,
    pub log_json: bool,
    pub livekit: LiveKitConfig,
    pub transfers: TransferConfig,
    pub jobs: JobConfig,
    /// The model behind summaries; `None`: the local summarizer only.
    pub summary_model: Option<SummaryConfig>,
    pub auth: AuthConfig,
}

/// Access control, CORS and per-key limits.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// `WARMLINE_AUTH=disabled`: serve without keys on any address (logged loudly).
    pub disabled: bool,
    /// How long a key lookup is trusted when no change notification arrives.
    pub key_cache_ttl: Duration,
    /// Browser origins allowed to call the API (never `*`).
    pub cors_origins: Vec<String>,
    /// Writes per second per API key (or per address without a key); 0: no limit.
    pub writes_per_key_per_sec: u32,
    /// Writes per second per client address; 0: no limit.
    pub writes_per_address_per_sec: u32,
    /// Event streams one key may hold open at once.
    pub max_event_streams_per_key: usize,
}

/// The prototype's page, served by its dev server on these origins.
pub const PROTOTYPE_ORIGINS: [&str; 4] = [
    "http://localhost:3000",
    "http://localhost:3001",
    "http://127.0.0.1:3000",
    "http://127.0.0.1:3001",
];

/// Where summaries come from when a model is configured.
#[derive(Debug, Clone)]
pub struct SummaryConfig {
    /// An OpenAI-compatible API root (`…/v1`); OpenRouter unless `SUMMARY_BASE_URL` says otherwise.
    pub base_url: String,
    pub api_key: Option<SecretString>,
    pub model: String,
    pub timeout: Duration,
    pub max_retries: u32,
    pub retry_base: Duration,
    /// Mask phone numbers, e-mails and card numbers before text leaves the service.
    pub redact: bool,
}

/// OpenRouter's OpenAI-compatible API.
pub const OPENROUTER_BASE_URL: &str = "https://openrouter.ai/api/v1";

/// LiveKit server address and credentials; defaults are `livekit-server --dev`'s.
#[derive(Debug, Clone)]
pub struct LiveKitConfig {
    /// Where warmline reaches the server's API.
    pub url: String,
    /// What clients are told to connect to (differs from `url` behind NAT or in compose).
    pub public_url: String,
    pub api_key: String,
    pub api_secret: SecretString,
    pub token_ttl: Duration,
    pub request_timeout: Duration,
    /// MoveParticipant exists only on LiveKit Cloud; self-hosted servers stub it.
    pub move_participant: bool,
    /// What a token lets its holder publish (LiveKit track sources); audio only by default.
    pub publish_sources: Vec<String>,
}

/// The track sources LiveKit knows.
pub const TRACK_SOURCES: [&str; 4] = ["microphone", "camera", "screen_share", "screen_share_audio"];

/// Timings of the transfer state machine.
#[derive(Debug, Clone)]
pub struct TransferConfig {
    pub accept_ttl: Duration,
    pub handoff_timeout: Duration,
    /// How often LiveKit is asked about every hand-off under way (a webhook usually tells first).
    pub handoff_check_interval: Duration,
    pub handoff_confirmation: HandoffConfirmation,
}

/// The durable job queue's retry policy.
#[derive(Debug, Clone)]
pub struct JobConfig {
    /// Jobs run at once by one process (a slow model call must not hold up room operations).
    pub concurrency: usize,
    pub max_attempts: i32,
    /// The first retry waits about this long; each further one twice as long (capped at 5 min).
    pub backoff_base: Duration,
    pub lease: Duration,
    pub poll_interval: Duration,
}

impl Config {
    /// Reads `.env` (when present) and then the process environment.
    pub fn from_env() -> anyhow::Result<Self> {
        match dotenvy::dotenv() {
            Ok(_) => {}
            Err(e) if e.not_found() => {}
            Err(e) => return Err(e).context("reading .env"),
        }
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Builds the config from any key lookup, so tests need not touch the process environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let var = |key: &str| get(key).filter(|v| !v.trim().is_empty());
        let parsed = |key: &str, default: &str| -> anyhow::Result<String> {
            Ok(var(key).unwrap_or_else(|| default.to_owned()))
        };
        fn num<T: std::str::FromStr>(key: &str, raw: String) -> anyhow::Result<T>
        where
            T::Err: std::fmt::Display,
        {
            raw.trim()
                .parse::<T>()
                .map_err(|e| anyhow::anyhow!("{key}={raw:?} is not valid: {e}"))
        }
        let secs = |key: &str, default: &str| -> anyhow::Result<Duration> {
            let n: u64 = num(key, parsed(key, default)?)?;
            if n == 0 {
                bail!("{key} must be at least 1 second");
            }
            Ok(Duration::from_secs(n).min(MAX_DURATION_SETTING))
        };
        let millis = |key: &str, default: &str| -> anyhow::Result<Duration> {
            let n: u64 = num(key, parsed(key, default)?)?;
            Ok(Duration::from_millis(n).min(MAX_DURATION_SETTING))
        };
        let flag = |key: &str, default: bool| -> anyhow::Result<bool> {
            match var(key).map(|v| v.to_ascii_lowercase()) {
                None => Ok(default),
                Some(v) if ["1", "true", "yes", "on"].contains(&v.as_str()) => Ok(true),
                Some(v) if ["0", "false", "no", "off"].contains(&v.as_str()) => Ok(false),
                Some(v) => bail!("{key}={v:?} is not a boolean (true/false)"),
            }
        };

        let handoff_confirmation = match parsed("HANDOFF_CONFIRMATION", "observed")?.as_str() {
            "observed" => HandoffConfirmation::Observed,
            "agent" => HandoffConfirmation::Agent,
            other => bail!("HANDOFF_CONFIRMATION={other:?}: expected `observed` or `agent`"),
        };
        let max_attempts: i32 = num("JOB_MAX_ATTEMPTS", parsed("JOB_MAX_ATTEMPTS", "8")?)?;
        if max_attempts < 1 {
            bail!("JOB_MAX_ATTEMPTS must be at least 1");
        }
        let max_body_bytes: usize = num("MAX_BODY_BYTES", parsed("MAX_BODY_BYTES", "1048576")?)?;
        if max_body_bytes < 1024 {
            bail!("MAX_BODY_BYTES must be at least 1024");
        }

        let api_key = var("SUMMARY_API_KEY").or_else(|| var("OPENROUTER_API_KEY"));
        let base_url = var("SUMMARY_BASE_URL");
        // A local model (Ollama, vLLM) needs a base URL and no key; OpenRouter needs a key.
        let summary_model = if api_key.is_some() || base_url.is_some() {
            Some(SummaryConfig {
                base_url: base_url.unwrap_or_else(|| OPENROUTER_BASE_URL.to_owned()),
                api_key: api_key.map(SecretString::from),
                model: parsed("SUMMARY_MODEL", "openai/gpt-4o-mini")?,
                timeout: secs("SUMMARY_TIMEOUT_SECS", "20")?,
                max_retries: num("SUMMARY_MAX_RETRIES", parsed("SUMMARY_MAX_RETRIES", "2")?)?,
                retry_base: millis("SUMMARY_RETRY_BASE_MS", "500")?,
                redact: flag("SUMMARY_REDACT", false)?,
            })
        } else {
            None
        };

        let bind: IpAddr = num("BIND", parsed("BIND", "127.0.0.1")?)?;
        let auth_disabled = match parsed("WARMLINE_AUTH", "auto")?.as_str() {
            "auto" => false,
            "disabled" => true,
            other => bail!("WARMLINE_AUTH={other:?}: expected `auto` or `disabled`"),
        };
        let cors_origins = match var("CORS_ORIGINS") {
            Some(list) => {
                let origins: Vec<String> = list
                    .split(',')
                    .map(|o| o.trim().trim_end_matches('/').to_owned())
                    .filter(|o| !o.is_empty())
                    .collect();
                for origin in &origins {
                    let parsed = url::Url::parse(origin).map_err(|e| {
                        anyhow::anyhow!("CORS_ORIGINS: {origin:?} is not an origin: {e}")
                    })?;
                    if !matches!(parsed.scheme(), "http" | "https") || parsed.path() != "/" {
                        bail!(
                            "CORS_ORIGINS: {origin:?} must be scheme://host[:port], e.g. https://app.example.com (`*` is not allowed)"
                        );
                    }
                }
                origins
            }
            None if bind.is_loopback() => PROTOTYPE_ORIGINS.map(str::to_owned).to_vec(),
            None => Vec::new(),
        };
        let auth = AuthConfig {
            disabled: auth_disabled,
            key_cache_ttl: secs("API_KEY_CACHE_SECS", "10")?,
            cors_origins,
            writes_per_key_per_sec: num(
                "RATE_LIMIT_WRITES_PER_KEY",
                parsed("RATE_LIMIT_WRITES_PER_KEY", "100")?,
            )?,
            writes_per_address_per_sec: num(
                "RATE_LIMIT_WRITES_PER_ADDRESS",
                parsed("RATE_LIMIT_WRITES_PER_ADDRESS", "50")?,
            )?,
            max_event_streams_per_key: match num::<usize>(
                "MAX_EVENT_STREAMS_PER_KEY",
                parsed("MAX_EVENT_STREAMS_PER_KEY", "20")?,
            )? {
                0 => bail!("MAX_EVENT_STREAMS_PER_KEY must be at least 1"),
                n => n,
            },
        };

        Ok(Self {
            summary_model,
            auth,
            bind,
            port: num("PORT", parsed("PORT", "8000")?)?,
            database_url: var("DATABASE_URL"),
            database_max_connections: num(
                "DATABASE_MAX_CONNECTIONS",
                parsed("DATABASE_MAX_CONNECTIONS", "10")?,
            )?,
            database_acquire_timeout: {
                let (low, high) = DATABASE_ACQUIRE_TIMEOUT_BOUNDS;
                let ms: u64 = num(
                    "DATABASE_ACQUIRE_TIMEOUT_MS",
                    parsed("DATABASE_ACQUIRE_TIMEOUT_MS", "2000")?,
                )?;
                Duration::from_millis(ms).clamp(low, high)
            },
            auto_migrate: flag("AUTO_MIGRATE", true)?,
            data_dir: parsed("DATA_DIR", "data")?.into(),
            max_body_bytes,
            request_timeout: secs("REQUEST_TIMEOUT_SECS", "30")?,
            transcript_grace: secs("TRANSCRIPT_GRACE_SECS", "300")?,
            call_unanswered_timeout: secs("CALL_UNANSWERED_TIMEOUT_SECS", "600")?,
            idempotency_key_ttl: secs("IDEMPOTENCY_KEY_TTL_SECS", "86400")?,
            event_stream_poll: match millis("EVENT_STREAM_POLL_MS", "5000")? {
                d if d.is_zero() => bail!("EVENT_STREAM_POLL_MS must be at least 1"),
                d => d,
            },
            event_stream_buffer: match num::<usize>(
                "EVENT_STREAM_BUFFER",
                parsed("EVENT_STREAM_BUFFER", "1024")?,
            )? {
                n @ 1..=1_000_000 => n,
                _ => bail!("EVENT_STREAM_BUFFER must be 1 to 1000000"),
            },
            log_json: flag("LOG_JSON", false)?,
            livekit: LiveKitConfig {
                url: parsed("LIVEKIT_URL", "ws://localhost:7880")?,
                public_url: match var("LIVEKIT_PUBLIC_URL") {
                    Some(url) => url,
                    None => parsed("LIVEKIT_URL", "ws://localhost:7880")?,
                },
                api_key: parsed("LIVEKIT_API_KEY", "devkey")?,
                api_secret: parsed("LIVEKIT_API_SECRET", "secret")?.into(),
                token_ttl: secs("LIVEKIT_TOKEN_TTL_SECS", "3600")?,
                request_timeout: secs("LIVEKIT_REQUEST_TIMEOUT_SECS", "10")?,
                move_participant: flag("LIVEKIT_MOVE_PARTICIPANT", false)?,
                publish_sources: {
                    let raw = parsed("LIVEKIT_PUBLISH_SOURCES", "microphone")?;
                    let sources: Vec<String> = raw
                        .split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect();
                    if let Some(bad) = sources
                        .iter()
                        .find(|s| !TRACK_SOURCES.contains(&s.as_str()))
                    {
                        bail!(
                            "LIVEKIT_PUBLISH_SOURCES: {bad:?} is not one of {}",
                            TRACK_SOURCES.join(", ")
                        );
                    }
                    if sources.is_empty() {
                        bail!("LIVEKIT_PUBLISH_SOURCES must name at least one source (microphone)");
                    }
                    sources
                },
            },
            transfers: TransferConfig {
                accept_ttl: secs("TRANSFER_ACCEPT_TTL_SECS", "120")?,
                handoff_timeout: secs("HANDOFF_TIMEOUT_SECS", "60")?,
                handoff_check_interval: match millis("HANDOFF_CHECK_INTERVAL_MS", "1000")? {
                    d if d.is_zero() => bail!("HANDOFF_CHECK_INTERVAL_MS must be at least 1"),
                    d => d,
                },
                handoff_confirmation,
            },
            jobs: JobConfig {
                concurrency: match num::<usize>(
                    "JOB_CONCURRENCY",
                    parsed("JOB_CONCURRENCY", "16")?,
                )? {
                    0 => bail!("JOB_CONCURRENCY must be at least 1"),
                    n => n,
                },
                max_attempts,
                backoff_base: millis("JOB_BACKOFF_BASE_MS", "1000")?,
                lease: secs("JOB_LEASE_SECS", "60")?,
                poll_interval: millis("JOB_POLL_INTERVAL_MS", "1000")?,
            },
        })
    }

    /// The socket address to listen on.
    pub fn listen_addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(settings: &[(&str, &str)]) -> Config {
        Config::from_lookup(|key| {
            settings
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| (*v).to_owned())
        })
        .expect("valid settings")
    }

    #[test]
    fn durations_beyond_any_sane_timer_are_clamped_not_overflowed() {
        let huge = u64::MAX.to_string();
        let keys = [
            "REQUEST_TIMEOUT_SECS",
            "TRANSCRIPT_GRACE_SECS",
            "CALL_UNANSWERED_TIMEOUT_SECS",
            "IDEMPOTENCY_KEY_TTL_SECS",
            "LIVEKIT_TOKEN_TTL_SECS",
            "LIVEKIT_REQUEST_TIMEOUT_SECS",
            "TRANSFER_ACCEPT_TTL_SECS",
            "HANDOFF_TIMEOUT_SECS",
            "HANDOFF_CHECK_INTERVAL_MS",
            "JOB_LEASE_SECS",
            "JOB_POLL_INTERVAL_MS",
            "JOB_BACKOFF_BASE_MS",
            "EVENT_STREAM_POLL_MS",
            "API_KEY_CACHE_SECS",
            "SUMMARY_TIMEOUT_SECS",
            "SUMMARY_RETRY_BASE_MS",
        ];
        let mut settings: Vec<(&str, &str)> = keys.iter().map(|k| (*k, huge.as_str())).collect();
        settings.push(("SUMMARY_BASE_URL", "http://127.0.0.1:9/v1"));
        let c = config(&settings);
        let model = c.summary_model.as_ref().expect("a model is configured");
        let durations = [
            c.request_timeout,
            c.transcript_grace,
            c.call_unanswered_timeout,
            c.idempotency_key_ttl,
            c.livekit.token_ttl,
            c.livekit.request_timeout,
            c.transfers.accept_ttl,
            c.transfers.handoff_timeout,
            c.transfers.handoff_check_interval,
            c.jobs.lease,
            c.jobs.poll_interval,
            c.jobs.backoff_base,
            c.event_stream_poll,
            c.auth.key_cache_ttl,
            model.timeout,
            model.retry_base,
        ];
        assert_eq!(durations.len(), keys.len());
        for (key, d) in keys.iter().zip(durations) {
            assert_eq!(d, MAX_DURATION_SETTING, "{key}");
        }
        // What the service computes from them stays in range.
        let now = chrono::Utc::now();
        assert!(crate::domain::later_by(now, c.transfers.accept_ttl) > now);
        let _ = c.jobs.poll_interval * 5;
    }

    #[test]
    fn ordinary_durations_are_kept() {
        let c = config(&[
            ("TRANSFER_ACCEPT_TTL_SECS", "90"),
            ("JOB_POLL_INTERVAL_MS", "250"),
        ]);
        assert_eq!(c.transfers.accept_ttl, Duration::from_secs(90));
        assert_eq!(c.jobs.poll_interval, Duration::from_millis(250));
    }
}
