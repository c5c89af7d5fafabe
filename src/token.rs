//! The data path shared by every front end: host -> identity -> cache -> fetch -> answer.

use crate::cache::{self, Cache, CacheError, Entry};
use crate::error::Error;
use crate::fetch::{self, Selection};
use crate::identity;
use crate::log::{debug, warning};
use crate::registry::EcrHost;
use crate::secret::Secret;
use std::time::{Duration, Instant};

/// How long a whole `get` may take unless `AWS_ECR_TIMEOUT` (seconds) says otherwise. Docker and
/// the kubelet wait on us; a pull must fail in bounded time rather than hang.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Credentials for one registry.
#[derive(Debug, Clone)]
pub struct Token {
    pub username: String,
    pub password: Secret,
    /// Unix seconds.
    pub expires_at: f64,
    pub origin: Origin,
    /// The registry AWS named with the token, for `list`.
    pub proxy_endpoint: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Served from the cache without any network call.
    Cache,
    /// Fetched from AWS now.
    Fetched,
    /// A refresh failed; served from the cache while still valid.
    Stale,
}

/// What else selects credentials for a request: a per-registry profile or role, a pod's role.
/// Its `identity` pairs enter the cache key, so each mapping has entries of its own.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub selection: Selection,
    pub identity: Vec<(String, String)>,
}

impl Token {
    fn from_entry(entry: Entry, origin: Origin) -> Token {
        Token {
            username: entry.username,
            password: entry.password,
            expires_at: entry.expires_at,
            origin,
            proxy_endpoint: entry.proxy_endpoint,
        }
    }
}

/// `AWS_ECR_TIMEOUT` in seconds (fractions allowed), else [`DEFAULT_TIMEOUT`].
pub fn timeout_from_env() -> Duration {
    std::env::var("AWS_ECR_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0 && *s <= 3600.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(DEFAULT_TIMEOUT)
}

/// The cache key for `host` under `request`'s identity.
pub fn cache_key(host: &EcrHost, request: &Request) -> String {
    format!("{}{}", identity_prefix(request), host.token_scope().key())
}

/// The identity part of cache keys, with its trailing separator.
pub fn identity_prefix(request: &Request) -> String {
    let extra: Vec<(&str, &str)> = request
        .identity
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    format!("{}/", identity::fingerprint(&extra).as_str())
}

/// Credentials for `host`: from the cache when fresh, otherwise from AWS under the refresh lock.
pub fn token_for(host: &EcrHost, request: &Request) -> Result<Token, Error> {
    let deadline = Instant::now() + timeout_from_env();
    let key = cache_key(host, request);
    let mut cache = Cache::from_env();
    let cached = match cache.as_ref().and_then(|c| c.lookup(&key)) {
        Some(entry) if entry.is_fresh(cache::now()) => {
            debug!("cache hit for {} ({key})", host.host);
            if let Some(c) = &cache
                && !entry.hosts.contains(&host.host)
            {
                c.remember_host(&key, &host.host);
            }
            return Ok(Token::from_entry(entry, Origin::Cache));
        }
        other => other,
    };
    debug!(
        "cache miss for {} ({key}): {}",
        host.host,
        if cached.is_some() {
            "entry is due for refresh"
        } else {
            "no entry"
        }
    );

    // Hold the refresh lock, then look again: whoever held it before us may have just fetched.
    // A token that is due for refresh but still valid is served at once when another process
    // holds the lock: one refresher is enough, and nobody waits on it.
    let can_serve_cached = cached.as_ref().is_some_and(|e| e.is_usable(cache::now()));
    let lock_deadline = if can_serve_cached {
        Instant::now()
    } else {
        deadline
    };
    let _guard = match cache.as_ref().map(|c| c.lock_refresh(&key, lock_deadline)) {
        Some(Ok(guard)) => Some(guard),
        Some(Err(CacheError::LockTimeout(_))) => {
            if let Some(entry) = cached.filter(|e| e.is_usable(cache::now())) {
                debug!("another process is refreshing {key}; serving the cached token meanwhile");
                return Ok(Token::from_entry(entry, Origin::Cache));
            }
            return Err(Error::TimedOut(
                Some(timeout_from_env()),
                "waiting for another ecr-login process to refresh the token",
            ));
        }
        Some(Err(e)) => {
            warning!("{e}; continuing without the cache");
            cache = None;
            None
        }
        None => None,
    };
    let cached = match &cache {
        Some(c) => c.lookup(&key),
        None => cached,
    };
    let cached = match cached {
        Some(entry) if entry.is_fresh(cache::now()) => {
            debug!("another process refreshed {key} while we waited");
            return Ok(Token::from_entry(entry, Origin::Cache));
        }
        other => other,
    };

    match fetch::fetch_blocking(&host.token_scope(), &request.selection, deadline) {
        Ok(fetched) => {
            // The hosts this scope served so far stay listed (for `list`) across a refresh.
            let mut hosts = cached.map(|e| e.hosts).unwrap_or_default();
            if !hosts.contains(&host.host) {
                hosts.push(host.host.clone());
            }
            let entry = Entry {
                username: fetched.username,
                password: fetched.password,
                issued_at: cache::now(),
                expires_at: fetched.expires_at,
                hosts,
                proxy_endpoint: fetched.proxy_endpoint,
            };
            if let Some(c) = &cache
                && let Err(e) = c.store(&key, entry.clone(), deadline)
            {
                warning!("could not save the token in the cache: {e}");
            }
            Ok(Token::from_entry(entry, Origin::Fetched))
        }
        Err(err) => match cached {
            Some(entry) if entry.is_usable(cache::now()) => {
                warning!(
                    "{}: refreshing the token failed ({err}); using the cached one, valid for {:.0} more minutes",
                    host.host,
                    entry.remaining(cache::now()) / 60.0
                );
                Ok(Token::from_entry(entry, Origin::Stale))
            }
            _ => Err(err),
        },
    }
}
