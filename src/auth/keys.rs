//! API keys: making them, and recognising them without a database round trip per request.
//!
//! A key is `wl_<prefix>_<secret>`: the prefix finds the row, the SHA-256 of the whole key must
//! match the stored hash. Lookups are cached for a few seconds; every process drops its cache
//! when the `api_keys` trigger notifies a change, so a revoked key stops working at once (and
//! within one cache period if notifications are lost).

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use super::model::KeyHolder;
use super::store::{self, StoredKey};
use crate::error::ApiError;

const PREFIX_CHARS: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
const PREFIX_LEN: usize = 12;
/// Past this many cached lookups (most of them guesses), the cache starts over.
const MAX_CACHED: usize = 10_000;

/// A freshly made key: show `secret` once, store `prefix` and `hash`.
#[derive(Debug)]
pub struct MintedKey {
    pub prefix: String,
    pub secret: String,
    pub hash: [u8; 32],
}

/// Makes a key from 256 random bits (the thread RNG is a CSPRNG seeded by the OS).
pub fn mint() -> MintedKey {
    let mut rng = rand::rng();
    let prefix: String = (0..PREFIX_LEN)
        .map(|_| PREFIX_CHARS[(rng.next_u32() as usize) % PREFIX_CHARS.len()] as char)
        .collect();
    let mut secret_bytes = [0u8; 32];
    rng.fill_bytes(&mut secret_bytes);
    let secret = format!("wl_{prefix}_{}", URL_SAFE_NO_PAD.encode(secret_bytes));
    let hash = hash(&secret);
    MintedKey {
        prefix,
        secret,
        hash,
    }
}

fn hash(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// The key sent as `Authorization: Bearer <key>`; the scheme's name is case-insensitive
/// (RFC 9110).
pub fn bearer_key(authorization: &axum::http::HeaderValue) -> Option<&str> {
    authorization
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim())
}

/// The prefix of a well-formed key.
pub fn prefix_of(key: &str) -> Option<&str> {
    let rest = key.strip_prefix("wl_")?;
    let (prefix, secret) = rest.split_once('_')?;
    (prefix.len() == PREFIX_LEN
        && !secret.is_empty()
        && prefix.bytes().all(|b| PREFIX_CHARS.contains(&b)))
    .then_some(prefix)
}

struct Cached {
    key: Option<StoredKey>,
    fetched: Instant,
}

/// The process's view of the `api_keys` table.
pub struct KeyCache {
    entries: RwLock<HashMap<String, Cached>>,
    has_keys: AtomicBool,
    /// Bumped (under the write lock) each time the cache is dropped.
    generation: AtomicU64,
    ttl: Duration,
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache")
            .field("has_keys", &self.has_keys())
            .finish_non_exhaustive()
    }
}

impl KeyCache {
    /// An empty cache that keeps lookups for `ttl`. Until [`KeyCache::refresh`] runs it assumes
    /// keys exist, so nothing is ever open by mistake.
    pub fn new(ttl: Duration) -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            has_keys: AtomicBool::new(true),
            generation: AtomicU64::new(0),
            ttl,
        }
    }

    /// How long a lookup is trusted.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Whether any key was ever made (as of the last refresh).
    pub fn has_keys(&self) -> bool {
        self.has_keys.load(Ordering::Relaxed)
    }

    /// Forgets every lookup and re-reads whether keys exist.
    pub async fn refresh(&self, db: &PgPool) -> sqlx::Result<bool> {
        if let Ok(mut entries) = self.entries.write() {
            self.generation.fetch_add(1, Ordering::Relaxed);
            entries.clear();
        }
        let any = store::any_key(db).await?;
        self.has_keys.store(any, Ordering::Relaxed);
        Ok(any)
    }

    /// The holder of `key`, or a 401 saying why not.
    pub async fn authenticate(&self, db: &PgPool, key: &str) -> Result<KeyHolder, ApiError> {
        let Some(prefix) = prefix_of(key) else {
            return Err(ApiError::Unauthorized(
                "the API key is malformed; keys look like wl_<prefix>_<secret>".into(),
            ));
        };
        let cached = self.entries.read().ok().and_then(|entries| {
            entries
                .get(prefix)
                .filter(|c| c.fetched.elapsed() < self.ttl)
                .map(|c| c.key.clone())
        });
        let stored = match cached {
            Some(found) => found,
            None => {
                let generation = self.generation.load(Ordering::Relaxed);
                let found = store::use_key(db, prefix).await?;
                // A key revoked while we read is announced by a refresh in between: what we
                // read may be stale then, and caching it would outlive the revocation.
                if let Ok(mut entries) = self.entries.write()
                    && self.generation.load(Ordering::Relaxed) == generation
                {
                    if entries.len() >= MAX_CACHED {
                        entries.clear();
                    }
                    entries.insert(
                        prefix.to_owned(),
                        Cached {
                            key: found.clone(),
                            fetched: Instant::now(),
                        },
                    );
                }
                found
            }
        };
        match stored {
            Some(k) if k.secret_hash.as_slice() == hash(key).as_slice() => Ok(KeyHolder {
                id: k.id,
                role: k.role,
                agent: k.agent,
            }),
            _ => Err(ApiError::Unauthorized(
                "the API key is unknown or revoked".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_keys_are_recognised_and_unique() {
        let a = mint();
        let b = mint();
        assert_ne!(a.secret, b.secret);
        assert_eq!(prefix_of(&a.secret), Some(a.prefix.as_str()));
        assert_eq!(hash(&a.secret), a.hash);
        assert!(a.secret.len() > 50);
        assert_eq!(prefix_of("wl_short_x"), None);
        assert_eq!(prefix_of("Bearer wl_abc"), None);
        assert_eq!(prefix_of(&format!("wl_{}_", a.prefix)), None);
    }
}
