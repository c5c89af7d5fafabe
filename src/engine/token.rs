//! The data path shared by every front end: host -> credential source -> cache decision ->
//! fetch -> answer.

use crate::aws::credentials::CredentialSource;
use crate::aws::error::Error;
use crate::aws::fetch::{self, Attempt};
use crate::cache::lock::LockError;
use crate::cache::policy::{self, Decision, FailureKind};
use crate::cache::{self, Cache, CacheError, Entry, Slot};
use crate::engine::attempt;
use crate::engine::context::Context;
use crate::host::registry::{EcrHost, TokenScope};
use crate::util::log::{debug, warning};
use crate::util::secret::Secret;
use crate::util::settings::Settings;
use std::time::{Duration, Instant};

/// With a usable token in hand, a refresh may delay a `get` by this much at most: an outage
/// or a hung endpoint must not cost every pull the whole timeout.
pub(crate) const REFRESH_BUDGET: Duration = Duration::from_secs(3);

/// Credentials for one registry.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub username: String,
    pub password: Secret,
    /// Unix seconds, by our clock.
    pub expires_at: f64,
    /// The caller's own registry in the token's region, when AWS named it.
    pub proxy_endpoint: Option<String>,
    /// Served while due for refresh: the front end starts the background refresh after it
    /// has answered (see [`RefreshMode::Background`]).
    pub refresh_due: bool,
}

impl From<Entry> for Token {
    fn from(entry: Entry) -> Token {
        Token {
            username: entry.username,
            password: entry.password,
            expires_at: entry.expires_at,
            proxy_endpoint: entry.proxy_endpoint,
            refresh_due: false,
        }
    }
}

/// How a token that is due for refresh (past half its life, still usable) is refreshed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefreshMode {
    /// The caller answers at once with the cached token and starts a detached process to
    /// refresh it (the default): no pull waits on AWS while a usable token exists.
    Background,
    /// This process refreshes, within [`REFRESH_BUDGET`], before answering
    /// (`AWS_ECR_REFRESH=inline`: where no detached process is wanted).
    Inline,
    /// This process is the detached refresher: it refreshes with the whole timeout, once,
    /// unless another process already is.
    Detached,
}

impl RefreshMode {
    pub(crate) fn from_settings(settings: &Settings) -> RefreshMode {
        match settings.get("AWS_ECR_REFRESH").map(str::trim) {
            Some(v) if v.eq_ignore_ascii_case("inline") => RefreshMode::Inline,
            Some(v) if v == DETACHED => RefreshMode::Detached,
            _ => RefreshMode::Background,
        }
    }
}

/// The value of `AWS_ECR_REFRESH` in the environment of a detached refresher.
pub(crate) const DETACHED: &str = "detached";

/// Time kept back from a fetch for recording its outcome: a failure recorded after the
/// deadline would be lost, and the next caller would wait the whole timeout again.
pub fn record_reserve(timeout: Duration) -> Duration {
    (timeout / 5).min(Duration::from_millis(500))
}

/// Credentials for `host`: from the cache when fresh, otherwise from AWS under the refresh lock,
/// as [`policy::decide`] says. A token served while due carries `refresh_due`: the front end
/// starts the background refresh once it has answered.
pub(crate) fn token_for(
    cx: &Context,
    host: &EcrHost,
    source: &CredentialSource,
) -> Result<Token, Error> {
    token_with(cx, host, source, Retries::Sdk)
}

/// Who retries a token call that failed for a passing reason (throttling, a server error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retries {
    /// The SDK, within one call (its standard mode: three attempts): for `get`, which answers
    /// once.
    Sdk,
    /// The caller, between calls, waiting out the remembered window: the kubelet plugin
    /// ([`token_through_throttling`]). Quick SDK retries into an empty token bucket only
    /// spend a fleet's calls (see `benches/fleet.rs`).
    Caller,
}

fn token_with(
    cx: &Context,
    host: &EcrHost,
    source: &CredentialSource,
    retries: Retries,
) -> Result<Token, Error> {
    let call = Call::new(cx, host, source, retries);
    let mut slot = cx.cache.slot(&call.key);
    if let Some(answer) = call.answer(&mut slot, None) {
        return answer;
    }
    let waited_since = cache::now();
    let (cache, locked) = match call.lock(&slot) {
        Locking::Held(cache, guard) => (cache, guard),
        Locking::Answer(answer) => return answer,
    };
    if locked.is_some() {
        slot = cache.slot(&call.key);
        if let Some(answer) = call.answer(&mut slot, Some(waited_since)) {
            debug!("another process settled {} while we waited", call.key);
            return answer;
        }
    }
    let result = call.fetch(&slot);
    call.settle(&cache, slot, result)
}

/// Failures that waiting may cure: throttling, and AWS failing for the moment.
fn passing(err: &Error) -> bool {
    matches!(
        err.failure_kind(),
        Some(FailureKind::Throttled | FailureKind::Service)
    ) && !matches!(err, Error::BadToken(_))
}

/// [`token_for`], trying again through throttling for as long as the deadline allows: for
/// the kubelet, whose own image-pull backoff (10 s doubling to 5 minutes) is far coarser than
/// a throttled window, so failing at once would delay a pod by minutes. Each try waits out
/// the remembered (jittered) window, so a fleet's retries spread out instead of piling up.
pub(crate) fn token_through_throttling(
    cx: &Context,
    host: &EcrHost,
    source: &CredentialSource,
) -> Result<Token, Error> {
    loop {
        let err = match token_with(cx, host, source, Retries::Caller) {
            Err(err) if passing(&err) => err,
            other => return other,
        };
        let retry_in = match &err {
            Error::Remembered { retry_in, .. } => Duration::from_secs_f64(retry_in.max(0.0)),
            _ => Duration::ZERO,
        };
        let left = cx
            .settings
            .deadline
            .saturating_duration_since(Instant::now());
        let Some(wait) = next_try(retry_in, left, cx.settings.timeout) else {
            return Err(err);
        };
        debug!("{}: throttled; trying again in {wait:.1?}", host.host);
        std::thread::sleep(wait);
    }
}

/// The least time worth starting another try with.
pub const MIN_TRY: Duration = Duration::from_secs(2);

/// After a throttled try, how long to wait before the next: the remembered window
/// (`retry_in`), if a try still fits in the `left` of a call allowed `timeout` (time for the
/// call itself and for recording its outcome); `None` to give up. Pure, so that the fleet
/// simulation (benches/fleet.rs) runs the very schedule the kubelet plugin does.
pub fn next_try(retry_in: Duration, left: Duration, timeout: Duration) -> Option<Duration> {
    next_try_with(MIN_TRY, retry_in, left, timeout)
}

/// [`next_try`] with another least try, for the fleet simulation to try other values.
pub fn next_try_with(
    min_try: Duration,
    retry_in: Duration,
    left: Duration,
    timeout: Duration,
) -> Option<Duration> {
    let needed = retry_in + min_try + record_reserve(timeout);
    (needed <= left).then(|| retry_in.max(Duration::from_millis(50)))
}

/// One request for a token: what it asks for, under which key, in which mode.
struct Call<'a> {
    cx: &'a Context,
    host: &'a EcrHost,
    source: &'a CredentialSource,
    scope: TokenScope,
    key: String,
    mode: RefreshMode,
    /// What the attempt uses beyond the key (see [`attempt::inputs`]): computed only when a
    /// failure is recorded or consulted.
    inputs: std::cell::OnceCell<String>,
    /// What a fetch resolved and was refused, and what was refused before.
    attempt: std::cell::RefCell<Attempt>,
}

/// How taking the refresh lock ended.
enum Locking {
    /// Go on and fetch, in this cache (the null cache when it failed), holding the lock when
    /// there is one.
    Held(Cache, Option<cache::lock::LockGuard>),
    /// Answered without fetching.
    Answer(Result<Token, Error>),
}

impl<'a> Call<'a> {
    fn new(
        cx: &'a Context,
        host: &'a EcrHost,
        source: &'a CredentialSource,
        retries: Retries,
    ) -> Call<'a> {
        let scope = host.token_scope();
        let key = cx.cache_key(&scope, source);
        Call {
            cx,
            host,
            source,
            scope,
            key,
            mode: RefreshMode::from_settings(&cx.settings),
            inputs: std::cell::OnceCell::new(),
            attempt: std::cell::RefCell::new(Attempt {
                single_try: retries == Retries::Caller,
                ..Attempt::default()
            }),
        }
    }

    fn inputs(&self) -> &str {
        self.inputs
            .get_or_init(|| attempt::inputs(self.cx, self.source))
    }

    /// The answer when the cache decides without a fetch (taken out of the slot, not copied).
    /// A remembered failure counts only if it holds this caller: another caller's shorter
    /// timeout, or inputs the user has changed since, do not.
    fn answer(&self, slot: &mut Slot, waited_since: Option<f64>) -> Option<Result<Token, Error>> {
        let now = cache::now();
        if slot.entry.as_ref().is_some_and(|e| e.is_fresh(now)) {
            return self.serve(slot, "cache hit");
        }
        let timeout = self.cx.settings.timeout.as_secs_f64();
        slot.failure = slot
            .failure
            .take()
            .filter(|f| f.holds(self.inputs(), timeout));
        let decision = policy::decide(
            slot.entry.as_ref().map(Entry::lifetime).as_ref(),
            slot.failure.as_ref(),
            now,
            waited_since,
        );
        match decision {
            Decision::Serve => self.serve(slot, "cache hit"),
            Decision::ServeBackingOff => {
                self.serve(slot, "a due token (a refresh failed lately) served")
            }
            Decision::ServeAndRefresh if self.mode == RefreshMode::Background => {
                let mut answer =
                    self.serve(slot, "a due token served, refreshed in the background,")?;
                if let Ok(token) = &mut answer {
                    token.refresh_due = true;
                }
                Some(answer)
            }
            Decision::FailFast(retry_in) => self.remembered(slot, retry_in),
            Decision::ServeAndRefresh | Decision::Refresh => None,
        }
    }

    fn serve(&self, slot: &mut Slot, why: &str) -> Option<Result<Token, Error>> {
        let entry = slot.entry.take()?;
        debug!("{why} for {} ({})", self.host.host, self.key);
        if !entry.hosts.contains(&self.host.host) {
            self.cx.cache.remember_host(&self.key, &self.host.host);
        }
        Some(Ok(entry.into()))
    }

    /// The remembered failure, unless it refused credentials from a source we cannot see
    /// into: those are resolved again (locally) and AWS is asked only if they changed.
    fn remembered(&self, slot: &mut Slot, retry_in: f64) -> Option<Result<Token, Error>> {
        let failure = slot.failure.as_ref()?;
        if failure.refused.is_some() && attempt::is_opaque(self.cx, self.source) {
            self.attempt.borrow_mut().refused_before = failure.refused.clone();
            return None;
        }
        Some(Err(self.remembered_error(failure, retry_in)))
    }

    fn remembered_error(&self, failure: &policy::Failure, retry_in: f64) -> Error {
        Error::Remembered {
            reason: failure.reason.clone(),
            retry_in,
            kind: failure.kind,
            host: self.host.host.clone(),
        }
    }

    /// One refresher per key. With a usable token nobody waits for it: the token is served.
    /// Without one, waiters hold on until it is done (or stalls), then look again.
    fn lock(&self, slot: &Slot) -> Locking {
        let have_token = slot
            .entry
            .as_ref()
            .is_some_and(|e| e.is_usable(cache::now()));
        self.log_miss(slot);
        let lock_deadline = if have_token {
            Instant::now()
        } else {
            self.cx.settings.deadline
        };
        let cache = self.cx.cache.clone();
        match cache.lock_refresh(&self.key, lock_deadline) {
            Ok(guard) => Locking::Held(cache, Some(guard)),
            Err(CacheError::Lock(LockError::Timeout(_))) => {
                match slot.entry.clone().filter(|_| have_token) {
                    Some(entry) => {
                        debug!(
                            "another process is refreshing {}; serving the cached token",
                            self.key
                        );
                        Locking::Answer(Ok(entry.into()))
                    }
                    None => Locking::Answer(Err(Error::TimedOut(
                        Some(self.cx.settings.timeout),
                        "waiting for another ecr-login process to refresh the token",
                    ))),
                }
            }
            Err(CacheError::Lock(e @ LockError::HolderStalled(..))) => {
                warning!("{e}; fetching the token without waiting for it");
                Locking::Held(cache, None)
            }
            Err(e) => {
                warning!("{e}; continuing without the cache");
                Locking::Held(Cache::disabled(), None)
            }
        }
    }

    fn log_miss(&self, slot: &Slot) {
        if crate::util::log::enabled(crate::util::log::Level::Debug) {
            debug!(
                "cache miss for {} ({}): {}; credentials from {}",
                self.host.host,
                self.key,
                if slot.entry.is_some() {
                    "the entry is due for refresh"
                } else {
                    "no entry"
                },
                crate::engine::source::describe(self.cx, self.source).summary
            );
        }
    }

    /// Asks AWS, within the inline budget when a usable token waits to be served, and with the
    /// whole timeout less the time to record the outcome otherwise.
    fn fetch(&self, slot: &Slot) -> Result<Entry, Error> {
        let settings = &self.cx.settings;
        let usable = slot
            .entry
            .as_ref()
            .is_some_and(|e| e.is_usable(cache::now()));
        let deadline = if usable && self.mode == RefreshMode::Inline {
            settings.deadline.min(Instant::now() + REFRESH_BUDGET)
        } else {
            let reserve = record_reserve(settings.timeout);
            settings
                .deadline
                .checked_sub(reserve)
                .unwrap_or(settings.deadline)
        };
        crate::engine::cause::check_source(self.cx, self.source)?;
        let mut attempt = self.attempt.borrow_mut();
        let fetched = fetch::fetch_blocking(
            &self.cx.settings,
            &self.cx.files,
            &self.scope,
            self.source,
            deadline,
            &mut attempt,
        )
        .map_err(|e| crate::engine::cause::explain(self.cx, self.source, e))?;
        let received = cache::now();
        let lifetime = policy::lifetime(fetched.expires_at, fetched.server_time, received)
            .ok_or(Error::BadToken("it had already expired by AWS's own clock"))?;
        // The hosts this scope served so far stay listed (for `list`) across a refresh.
        let mut hosts = slot
            .entry
            .as_ref()
            .map(|e| e.hosts.clone())
            .unwrap_or_default();
        if !hosts.contains(&self.host.host) {
            hosts.push(self.host.host.clone());
        }
        Ok(Entry {
            username: fetched.username,
            password: fetched.password,
            issued_at: lifetime.issued_at,
            expires_at: lifetime.expires_at,
            hosts,
            proxy_endpoint: fetched.proxy_endpoint,
        })
    }

    /// Stores a new token, or remembers why there is none, and answers: a failed refresh
    /// still serves a usable cached token.
    fn settle(
        &self,
        cache: &Cache,
        mut slot: Slot,
        result: Result<Entry, Error>,
    ) -> Result<Token, Error> {
        let err = match result {
            Ok(entry) => {
                if let Err(e) = cache.store(&self.key, entry.clone(), self.cx.settings.deadline) {
                    warning!("could not save the token in the cache: {e}");
                }
                return Ok(entry.into());
            }
            Err(Error::Unchanged) => {
                let retry_in = slot.failure.as_ref().map_or(0.0, |f| {
                    let usable = slot
                        .entry
                        .as_ref()
                        .is_some_and(|e| e.is_usable(cache::now()));
                    f.retry_in(usable, cache::now())
                });
                match slot.failure.take() {
                    Some(f) => self.remembered_error(&f, retry_in),
                    None => Error::Unchanged,
                }
            }
            Err(err) => {
                if let Some(failure) = self.failure_record(&err) {
                    cache.record_failure(&self.key, failure, self.cx.settings.deadline);
                }
                err
            }
        };
        match slot.entry.filter(|e| e.is_usable(cache::now())) {
            Some(entry) => {
                warning!(
                    "{}: refreshing the token failed ({err}); using the cached one, valid for {:.0} more minutes",
                    self.host.host,
                    entry.remaining(cache::now()) / 60.0
                );
                Ok(entry.into())
            }
            None => Err(err),
        }
    }

    /// What every process should remember of `err`, if anything.
    fn failure_record(&self, err: &Error) -> Option<policy::Failure> {
        if !err.is_worth_remembering() {
            return None;
        }
        let kind = err.failure_kind()?;
        let refused = match kind {
            FailureKind::Denied => self.attempt.borrow().credentials.clone(),
            _ => None,
        };
        Some(policy::Failure {
            reason: err.to_string(),
            at: cache::now(),
            count: 1,
            kind,
            window: policy::jitter(),
            inputs: self.inputs().to_string(),
            limit: matches!(err, Error::TimedOut(..))
                .then(|| self.cx.settings.timeout.as_secs_f64()),
            refused,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn debug_output_hides_secrets() {
        use crate::aws::credentials::{Base, CredentialSource};
        use crate::aws::fetch::Fetched;
        use crate::aws::web_identity::PodRole;
        use crate::cache::Entry;
        use crate::engine::token::Token;
        use crate::util::secret::Secret;

        let password = Secret::new("ecr-password-do-not-print");
        let token = Token {
            username: "AWS".into(),
            password: password.clone(),
            expires_at: 1.0,
            proxy_endpoint: None,
            refresh_due: false,
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
        let settings = crate::util::settings::Settings::from_lookup(|name| match name {
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
