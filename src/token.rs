//! The data path shared by every front end: host -> credential source -> cache decision ->
//! fetch -> answer.

use crate::aws_files::AwsFiles;
use crate::cache::{self, Cache, CacheError, Entry, Slot};
use crate::credentials::CredentialSource;
use crate::error::Error;
use crate::fetch;
use crate::log::{debug, warning};
use crate::policy::{self, Decision};
use crate::registry::{EcrHost, TokenScope};
use crate::secret::Secret;
use crate::settings::Settings;
use std::time::{Duration, Instant};

/// With a usable token in hand, a refresh may delay a `get` by this much at most: an outage
/// or a hung endpoint must not cost every pull the whole timeout.
pub const REFRESH_BUDGET: Duration = Duration::from_secs(3);

/// Credentials for one registry.
#[derive(Debug, Clone)]
pub struct Token {
    pub username: String,
    pub password: Secret,
    /// Unix seconds, by our clock.
    pub expires_at: f64,
    /// The caller's own registry in the token's region, when AWS named it.
    pub proxy_endpoint: Option<String>,
}

impl From<Entry> for Token {
    fn from(entry: Entry) -> Token {
        Token {
            username: entry.username,
            password: entry.password,
            expires_at: entry.expires_at,
            proxy_endpoint: entry.proxy_endpoint,
        }
    }
}

/// Everything one call reads from outside, read once: the environment, the AWS shared files,
/// and the cache they lead to.
#[derive(Debug)]
pub struct Context {
    pub settings: Settings,
    pub files: AwsFiles,
    pub cache: Cache,
}

impl Context {
    /// The shared files are found and opened here, and read only when something needs their
    /// contents: the key's material comes from the memo in the cache directory when it can.
    pub fn load(settings: Settings) -> Result<Context, Error> {
        let mut cache = Cache::from_settings(&settings);
        let files = AwsFiles::open(&settings, cache.dir()).map_err(|e| {
            Error::Config(format!(
                "{e}; the AWS SDK reads this file (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE)"
            ))
        })?;
        if files.too_large_to_key {
            warning!(
                "an AWS config file is larger than {} MiB; working without the cache for this call",
                crate::aws_files::MAX_KEYED >> 20
            );
            cache = Cache::disabled();
        }
        Ok(Context {
            settings,
            files,
            cache,
        })
    }

    /// The cache key for `scope` under `source`.
    pub fn cache_key(&self, scope: &TokenScope, source: &CredentialSource) -> String {
        format!("{}/{}", self.identity_key(source), scope.key())
    }

    /// The identity part of cache keys, with its trailing separator: one identity's entries.
    pub fn identity_key(&self, source: &CredentialSource) -> String {
        source.identity_key(&self.settings, &self.files)
    }
}

/// Credentials for `host`: from the cache when fresh, otherwise from AWS under the refresh lock,
/// as [`policy::decide`] says.
pub fn token_for(cx: &Context, host: &EcrHost, source: &CredentialSource) -> Result<Token, Error> {
    let scope = host.token_scope();
    let key = cx.cache_key(&scope, source);
    let slot = cx.cache.slot(&key);
    let decision = decide(&slot, None);
    let mut slot = slot;
    if let Some(answer) = answer_from_cache(cx, host, &key, &mut slot, decision) {
        return answer;
    }
    if crate::log::enabled(crate::log::Level::Debug) {
        debug!(
            "cache miss for {} ({key}): {}; credentials from {}",
            host.host,
            if slot.entry.is_some() {
                "the entry is due for refresh"
            } else {
                "no entry"
            },
            crate::source::describe(cx, source).summary
        );
    }

    // One refresher per key. With a usable token nobody waits for it: the token is served.
    // Without one, waiters hold on until it is done, then look again.
    let have_token = decision == Decision::ServeAndRefresh;
    let lock_deadline = if have_token {
        Instant::now()
    } else {
        cx.settings.deadline
    };
    let mut cache = cx.cache.clone();
    let waited_since = cache::now();
    let locked = match cache.lock_refresh(&key, lock_deadline) {
        Ok(guard) => Some(guard),
        Err(CacheError::LockTimeout(_)) if have_token => {
            if let Some(entry) = slot.entry {
                debug!("another process is refreshing {key}; serving the cached token meanwhile");
                return Ok(entry.into());
            }
            return Err(Error::TimedOut(
                Some(cx.settings.timeout),
                "waiting for another ecr-login process to refresh the token",
            ));
        }
        Err(CacheError::LockTimeout(_)) => {
            return Err(Error::TimedOut(
                Some(cx.settings.timeout),
                "waiting for another ecr-login process to refresh the token",
            ));
        }
        Err(e @ CacheError::HolderStuck(..)) => {
            warning!("{e}; fetching the token without waiting for it");
            None
        }
        Err(e) => {
            warning!("{e}; continuing without the cache");
            cache = Cache::disabled();
            None
        }
    };
    let slot = if locked.is_some() {
        cache.slot(&key)
    } else {
        slot
    };
    let decision = decide(&slot, Some(waited_since));
    let mut slot = slot;
    if let Some(answer) = answer_from_cache(cx, host, &key, &mut slot, decision) {
        debug!("another process settled {key} while we waited");
        return answer;
    }

    let now = cache::now();
    let usable = slot.entry.as_ref().filter(|e| e.is_usable(now));
    let deadline = match usable {
        Some(_) => cx.settings.deadline.min(Instant::now() + REFRESH_BUDGET),
        None => cx.settings.deadline,
    };
    let result = fetch::fetch_blocking(cx, &scope, source, deadline).and_then(|fetched| {
        let received = cache::now();
        let lifetime = policy::lifetime(fetched.expires_at, fetched.server_time, received)
            .ok_or(Error::BadToken("it had already expired by AWS's own clock"))?;
        // The hosts this scope served so far stay listed (for `list`) across a refresh.
        let mut hosts = slot
            .entry
            .as_ref()
            .map(|e| e.hosts.clone())
            .unwrap_or_default();
        if !hosts.contains(&host.host) {
            hosts.push(host.host.clone());
        }
        Ok(Entry {
            username: fetched.username,
            password: fetched.password,
            issued_at: lifetime.issued_at,
            expires_at: lifetime.expires_at,
            hosts,
            proxy_endpoint: fetched.proxy_endpoint,
        })
    });
    match result {
        Ok(entry) => {
            if let Err(e) = cache.store(&key, entry.clone(), cx.settings.deadline) {
                warning!("could not save the token in the cache: {e}");
            }
            Ok(entry.into())
        }
        Err(err) => {
            if err.is_worth_remembering() {
                cache.record_failure(&key, &err.to_string(), cx.settings.deadline);
            }
            match slot.entry.filter(|e| e.is_usable(cache::now())) {
                Some(entry) => {
                    warning!(
                        "{}: refreshing the token failed ({err}); using the cached one, valid for {:.0} more minutes",
                        host.host,
                        entry.remaining(cache::now()) / 60.0
                    );
                    Ok(entry.into())
                }
                None => Err(err),
            }
        }
    }
}

fn decide(slot: &Slot, waited_since: Option<f64>) -> Decision {
    policy::decide(
        slot.entry.as_ref().map(Entry::lifetime).as_ref(),
        slot.failure.as_ref(),
        cache::now(),
        waited_since,
    )
}

/// The answer when the decision needs no fetch (taken out of the slot, not copied).
fn answer_from_cache(
    cx: &Context,
    host: &EcrHost,
    key: &str,
    slot: &mut Slot,
    decision: Decision,
) -> Option<Result<Token, Error>> {
    match decision {
        Decision::Serve => {
            let entry = slot.entry.take()?;
            debug!("cache hit for {} ({key})", host.host);
            if !entry.hosts.contains(&host.host) {
                cx.cache.remember_host(key, &host.host);
            }
            Some(Ok(entry.into()))
        }
        Decision::ServeBackingOff => {
            let entry = slot.entry.take()?;
            debug!(
                "{}: the token is due for refresh, but a refresh failed lately; serving the cached one",
                host.host
            );
            Some(Ok(entry.into()))
        }
        Decision::FailFast(retry_in) => {
            let failure = slot.failure.take()?;
            Some(Err(Error::Remembered {
                reason: failure.reason,
                retry_in,
            }))
        }
        Decision::ServeAndRefresh | Decision::Refresh => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn debug_output_hides_secrets() {
        use crate::cache::Entry;
        use crate::credentials::{Base, CredentialSource, PodRole};
        use crate::fetch::Fetched;
        use crate::secret::Secret;
        use crate::token::Token;

        let password = Secret::new("ecr-password-do-not-print");
        let token = Token {
            username: "AWS".into(),
            password: password.clone(),
            expires_at: 1.0,
            proxy_endpoint: None,
        };
        let entry = Entry {
            username: "AWS".into(),
            password: password.clone(),
            issued_at: 0.0,
            expires_at: 1.0,
            hosts: vec!["123456789012.dkr.ecr.us-west-2.amazonaws.com".into()],
            proxy_endpoint: None,
        };
        let fetched = Fetched {
            username: "AWS".into(),
            password,
            expires_at: 1.0,
            server_time: None,
            proxy_endpoint: None,
        };
        let source = CredentialSource {
            base: Base::PodRole(PodRole {
                role_arn: "arn:aws:iam::123456789012:role/x".into(),
                token: Secret::new("session-token-do-not-print"),
                session_name: "s".into(),
                claims: ["i".into(), "s".into(), "a".into()],
            }),
            role_arn: None,
            sts_region: None,
        };
        let settings = crate::settings::Settings::from_lookup(|name| match name {
            "AWS_SECRET_ACCESS_KEY" => Some("secret-key-do-not-print".to_string()),
            _ => None,
        });
        let text = format!(
            "{token:?} {token:#?} {entry:?} {fetched:?} {source:?} {source:#?} {settings:?}"
        );
        for secret in [
            "ecr-password-do-not-print",
            "secret-key-do-not-print",
            "session-token-do-not-print",
        ] {
            assert!(!text.contains(secret), "{text}");
        }
        assert!(text.contains("***"));
    }
}
