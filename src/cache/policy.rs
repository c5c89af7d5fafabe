//! When to serve, refresh, or fail without asking AWS: one pure function of what the cache
//! holds for a key and the time.
//!
//! Failed refreshes are remembered in the cache, per key and shared by every process, so that
//! a herd of pulls during throttling or an outage costs a bounded number of API calls and each
//! `get` a bounded time: with a usable token nobody waits on a refresh that is known to fail,
//! and without one, callers inside the backoff window get the remembered reason at once.

use serde::{Deserialize, Serialize};

/// The longest a token is trusted to live, whatever `expiresAt` says: ECR tokens last 12 hours,
/// and an absurd expiry must not keep a token cached forever.
pub(crate) const MAX_LIFETIME: f64 = 12.0 * 3600.0 + 60.0;

/// A token and what we know of its lifetime, by our own clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lifetime {
    /// Unix seconds when we received it.
    pub issued_at: f64,
    /// Unix seconds when it expires: the lifetime AWS gave it, counted from `issued_at`.
    pub expires_at: f64,
}

impl Lifetime {
    fn length(&self) -> f64 {
        (self.expires_at - self.issued_at).max(0.0)
    }

    /// Refreshed once half its lifetime has passed, leaving the other half to ride out an
    /// outage. After the clock steps back the issue time lies ahead: not fresh then.
    pub fn is_fresh(&self, now: f64) -> bool {
        now >= self.issued_at - 300.0
            && now < self.issued_at + self.length() / 2.0
            && now < self.expires_at
    }

    /// Good enough to hand out: never expired, nor about to expire under a client that is
    /// starting a push.
    pub fn is_usable(&self, now: f64) -> bool {
        let margin = (self.length() / 4.0).min(60.0);
        now < self.expires_at - margin
    }
}

/// What kind of failure a refresh met: what a user can do about it, and whether the kubelet
/// plugin should keep trying within its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// AWS (ECR, STS, SSO) asked us to slow down: waiting helps.
    Throttled,
    /// The credentials were refused, or lack a permission: only a fix helps.
    Denied,
    /// AWS could not be reached, or did not answer in time.
    Network,
    /// AWS failed, or answered with something unusable.
    Service,
}

/// A refresh that failed, as every process sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// The error, as the user saw it (no secret ever reaches an error message).
    pub reason: String,
    /// Unix seconds of the last failure.
    pub at: f64,
    /// Failures in a row.
    pub count: u32,
    /// Records written before kinds were recorded read as service failures.
    #[serde(default = "FailureKind::unknown")]
    pub kind: FailureKind,
    /// This machine's share of the backoff, drawn once per failure in `(0, 1]`: machines
    /// throttled together come back spread over the window instead of all at once ("full
    /// jitter"). Old records read as 1, the whole window.
    #[serde(default = "full_window")]
    pub window: f64,
    /// A hash of what the failed attempt used beyond the cache key (secret keys, token files,
    /// SSO and login caches; see `crate::engine::attempt`). A caller whose
    /// inputs differ may have fixed the problem: the record does not hold it.
    #[serde(default)]
    pub inputs: String,
    /// For a timeout, the limit the caller had (seconds): a caller allowed longer may succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<f64>,
    /// For credentials refused from a source we cannot see into (a `credential_process`), a
    /// hash of the refused credentials: the next caller resolves them again (locally) and asks
    /// AWS only when they changed, as they do after the user logs in again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

impl FailureKind {
    fn unknown() -> FailureKind {
        FailureKind::Service
    }
}

fn full_window() -> f64 {
    1.0
}

/// A doubling backoff: `base` seconds after the first failure, doubling to `cap`, of which a
/// machine leaves AWS alone for its jittered share, but never less than `min_window`. Data
/// rather than bare constants so that the fleet simulation (`benches/fleet.rs`) can try other
/// shapes through this very code.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub base: f64,
    pub cap: f64,
    pub min_window: f64,
}

/// Backoff without a usable token: callers are waiting on us, so the window is short.
/// `benches/fleet.rs` measures it against a fleet throttled together (and other shapes
/// beside it, through this same code).
pub const NO_TOKEN_BACKOFF: Backoff = Backoff {
    base: 5.0,
    cap: 60.0,
    min_window: MIN_WINDOW,
};
/// Backoff with a usable token: it carries callers through, so AWS is left alone longer.
pub(crate) const WITH_TOKEN_BACKOFF: Backoff = Backoff {
    base: 30.0,
    cap: 600.0,
    min_window: MIN_WINDOW,
};
/// Backoff after throttling without a usable token: a window of 10 to 20 s, not doubling.
/// ECR refills its bucket at a fixed rate (20 a second per account and region), so a fleet
/// throttled together drains at that rate whatever it does; what it can choose is not to waste
/// calls. Short windows (5 s) spend calls while the bucket is empty, long doubling ones (to
/// 60 s) leave it refilling unused while the longest-waiting nodes sleep: the fleet simulation
/// (`benches/fleet.rs`) finds this shape, with one SDK attempt per try (see
/// `crate::engine::token::Retries`), serving 2,000 nodes within 1.25x the quota's bound and under 2
/// calls per node, where 5 s doubling to 60 s took 1.56x and 5.6.
pub const THROTTLED_BACKOFF: Backoff = Backoff {
    base: 20.0,
    cap: 20.0,
    min_window: 10.0,
};
/// However small the jittered window, one failure holds a herd for this long.
const MIN_WINDOW: f64 = 1.0;

impl Backoff {
    /// The one that applies to a failure of `kind`, with or without a usable token.
    pub fn for_failure(kind: FailureKind, have_token: bool) -> Backoff {
        match (kind, have_token) {
            (FailureKind::Throttled, false) => THROTTLED_BACKOFF,
            _ => Backoff::for_token(have_token),
        }
    }

    /// The one that applies with or without a usable token.
    pub fn for_token(have_token: bool) -> Backoff {
        if have_token {
            WITH_TOKEN_BACKOFF
        } else {
            NO_TOKEN_BACKOFF
        }
    }

    /// The full backoff after `count` failures in a row.
    pub fn full(&self, count: u32) -> f64 {
        let doublings = count.saturating_sub(1).min(16);
        (self.base * f64::from(1u32 << doublings)).min(self.cap)
    }

    /// The window a machine whose share is `share` (in `(0, 1]`) waits after `count` failures.
    pub fn window(&self, count: u32, share: f64) -> f64 {
        let full = self.full(count);
        (full * share.clamp(0.0, 1.0)).max(self.min_window.min(full))
    }
}

impl Failure {
    /// The full backoff after `count` failures in a row: doubling from a base to a cap.
    pub fn backoff(&self, have_token: bool) -> f64 {
        Backoff::for_failure(self.kind, have_token).full(self.count)
    }

    /// How long after the last failure this machine leaves AWS alone: its jittered share of
    /// the backoff.
    pub fn window_len(&self, have_token: bool) -> f64 {
        Backoff::for_failure(self.kind, have_token).window(self.count, self.window)
    }

    /// Seconds until a caller may ask AWS again; zero when it may now.
    pub fn retry_in(&self, have_token: bool, now: f64) -> f64 {
        self.retry_in_under(&Backoff::for_failure(self.kind, have_token), now)
    }

    /// [`Failure::retry_in`] under `backoff`.
    pub fn retry_in_under(&self, backoff: &Backoff, now: f64) -> f64 {
        // A failure "in the future" (the clock stepped back) does not hold anyone.
        if now < self.at {
            return 0.0;
        }
        (self.at + backoff.window(self.count, self.window) - now).max(0.0)
    }

    /// Whether this record speaks for a caller with these inputs and this time limit: a
    /// caller who changed what failed, or who allows more time than the one who timed out,
    /// is not held by it.
    pub fn holds(&self, inputs: &str, timeout: f64) -> bool {
        if self.limit.is_some_and(|limit| timeout > limit + 0.001) {
            return false;
        }
        self.inputs.is_empty() || self.inputs == inputs
    }

    /// The streak a new failure continues: none when the last one is older than the longest
    /// backoff (a failure an hour ago says nothing about now) or was met with other inputs.
    pub fn streak_before(previous: Option<&Failure>, inputs: &str, now: f64) -> u32 {
        let longest = WITH_TOKEN_BACKOFF.cap;
        previous
            .filter(|p| p.inputs == inputs && (now - p.at).abs() <= longest)
            .map_or(0, |p| p.count)
    }
}

/// A number in `(0, 1]` from the kernel's random pool (the time, where that fails): this
/// machine's share of a backoff window.
pub fn jitter() -> f64 {
    let mut bytes = [0u8; 8];
    // SAFETY: the buffer is valid for its length; GRND_NONBLOCK never waits.
    let got =
        unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), libc::GRND_NONBLOCK) };
    let bits = if got == 8 {
        u64::from_le_bytes(bytes)
    } else {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        u64::from(nanos) ^ (u64::from(std::process::id()) << 32)
    };
    // 53 random bits as a fraction, shifted from [0, 1) to (0, 1].
    ((bits >> 11) as f64 + 1.0) / (1u64 << 53) as f64
}

/// What to do for one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    /// The token is fresh: answer with it.
    Serve,
    /// The token is due for refresh but usable: refresh if nobody else is, within a short
    /// budget, and answer with the cached token if that fails.
    ServeAndRefresh,
    /// The token is due, but a refresh failed lately: answer with it and leave AWS alone.
    ServeBackingOff,
    /// No usable token: fetch one, waiting for whoever else is fetching it.
    Refresh,
    /// No usable token and a refresh failed lately: answer with that failure at once. The
    /// number is the seconds left until someone may ask AWS again.
    FailFast(f64),
}

/// `waited_since` is when this caller began waiting for another process's refresh: a failure
/// recorded since then is that refresh's outcome, which everyone who waited for it shares
/// whatever the backoff says (a slow herd must not outlast the window and ask again).
pub fn decide(
    token: Option<&Lifetime>,
    failure: Option<&Failure>,
    now: f64,
    waited_since: Option<f64>,
) -> Decision {
    let usable = token.is_some_and(|t| t.is_usable(now));
    if token.is_some_and(|t| t.is_fresh(now)) {
        return Decision::Serve;
    }
    let backing_off = failure.map_or(0.0, |f| {
        let shared = waited_since.is_some_and(|since| f.at >= since);
        let left = f.retry_in(usable, now);
        if shared {
            left.max(f64::MIN_POSITIVE)
        } else {
            left
        }
    });
    match (usable, backing_off > 0.0) {
        (true, false) => Decision::ServeAndRefresh,
        (true, true) => Decision::ServeBackingOff,
        (false, false) => Decision::Refresh,
        (false, true) => Decision::FailFast(backing_off),
    }
}

/// The lifetime of a token received at `received` (our clock) that AWS says expires at
/// `expires_at`, judged by AWS's own clock (`server_now`, the response's `Date`) when known: a
/// local clock hours off neither discards a good token nor keeps an expired one. `None` when
/// the token is already expired by AWS's clock (or by ours, without a `Date`).
pub(crate) fn lifetime(
    expires_at: f64,
    server_now: Option<f64>,
    received: f64,
) -> Option<Lifetime> {
    // `Date` has whole seconds: the server's clock may be up to a second past it.
    let left = expires_at - server_now.map_or(received, |d| d + 1.0);
    if left.is_nan() || left <= 0.0 {
        return None;
    }
    Some(Lifetime {
        issued_at: received,
        expires_at: received + left.min(MAX_LIFETIME),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(issued: f64, length: f64) -> Lifetime {
        Lifetime {
            issued_at: issued,
            expires_at: issued + length,
        }
    }

    fn failure(at: f64, count: u32) -> Failure {
        Failure {
            reason: "server error".into(),
            at,
            count,
            kind: FailureKind::Service,
            window: 1.0,
            inputs: String::new(),
            limit: None,
            refused: None,
        }
    }

    const H12: f64 = 43_200.0;

    #[test]
    fn fresh_tokens_are_served() {
        let t = token(1000.0, H12);
        assert_eq!(decide(Some(&t), None, 1000.0, None), Decision::Serve);
        assert_eq!(
            decide(Some(&t), Some(&failure(999.0, 3)), 2000.0, None),
            Decision::Serve
        );
    }

    #[test]
    fn due_tokens_refresh_unless_backing_off() {
        let t = token(0.0, H12);
        let now = H12 * 0.6;
        assert_eq!(decide(Some(&t), None, now, None), Decision::ServeAndRefresh);
        assert_eq!(
            decide(Some(&t), Some(&failure(now - 10.0, 1)), now, None),
            Decision::ServeBackingOff
        );
        assert_eq!(
            decide(Some(&t), Some(&failure(now - 31.0, 1)), now, None),
            Decision::ServeAndRefresh
        );
        assert_eq!(
            decide(Some(&t), Some(&failure(now - 31.0, 2)), now, None),
            Decision::ServeBackingOff,
            "the backoff doubles"
        );
    }

    #[test]
    fn without_a_token_failures_fail_fast_for_a_short_while() {
        assert_eq!(decide(None, None, 100.0, None), Decision::Refresh);
        assert_eq!(
            decide(None, Some(&failure(98.0, 1)), 100.0, None),
            Decision::FailFast(3.0)
        );
        assert_eq!(
            decide(None, Some(&failure(90.0, 1)), 100.0, None),
            Decision::Refresh
        );
        assert_eq!(
            decide(None, Some(&failure(90.0, 3)), 100.0, None),
            Decision::FailFast(10.0)
        );
        assert_eq!(
            decide(None, Some(&failure(100.0, 40)), 100.0, None),
            Decision::FailFast(60.0),
            "capped"
        );
        let expired = token(0.0, 10.0);
        assert_eq!(decide(Some(&expired), None, 100.0, None), Decision::Refresh);
        assert_eq!(
            decide(None, Some(&failure(200.0, 1)), 100.0, None),
            Decision::Refresh,
            "a failure in the future holds nobody"
        );
    }

    #[test]
    fn lifetimes_follow_the_servers_clock() {
        // The local clock 13 hours fast: AWS's own Date says the token has 12 hours.
        let local = 1_000_000.0 + 13.0 * 3600.0;
        let l = lifetime(1_000_000.0 + H12, Some(1_000_000.0), local).unwrap();
        assert_eq!(l.issued_at, local);
        assert_eq!(l.expires_at, local + H12 - 1.0);
        // Expired by AWS's clock.
        assert!(lifetime(1000.0, Some(1001.0), 500.0).is_none());
        // No Date: our clock decides.
        assert!(lifetime(1000.0, None, 1001.0).is_none());
        assert_eq!(lifetime(1100.0, None, 1000.0).unwrap().expires_at, 1100.0);
        // Absurd expiries are clamped.
        let l = lifetime(1e13, Some(999.0), 1000.0).unwrap();
        assert_eq!(l.expires_at, 1000.0 + MAX_LIFETIME);
        assert!(lifetime(f64::NAN, None, 1.0).is_none());
        assert!(
            lifetime(f64::INFINITY, None, 1.0).is_some_and(|l| l.expires_at == 1.0 + MAX_LIFETIME)
        );
    }

    #[test]
    fn waiters_share_the_outcome_they_waited_for() {
        // The failure is older than its window, but this caller was waiting for that very
        // refresh: it takes the failure rather than ask again.
        let f = failure(100.0, 1);
        assert_eq!(decide(None, Some(&f), 200.0, None), Decision::Refresh);
        assert!(matches!(
            decide(None, Some(&f), 200.0, Some(99.0)),
            Decision::FailFast(_)
        ));
        assert_eq!(
            decide(None, Some(&f), 200.0, Some(101.0)),
            Decision::Refresh
        );
    }

    #[test]
    fn windows_are_a_jittered_share_of_the_backoff() {
        let mut f = failure(100.0, 1);
        f.window = 0.5;
        assert_eq!(f.window_len(false), 2.5);
        assert_eq!(f.retry_in(false, 101.0), 1.5);
        f.window = 0.01;
        assert_eq!(
            f.window_len(false),
            MIN_WINDOW,
            "a herd is held for a moment at least"
        );
        f.count = 3;
        f.window = 1.0;
        assert_eq!(f.window_len(false), 20.0);
        for _ in 0..100 {
            let j = jitter();
            assert!(j > 0.0 && j <= 1.0, "{j}");
        }
        assert_ne!(jitter(), jitter());
    }

    #[test]
    fn throttling_without_a_token_waits_ten_to_twenty_seconds() {
        let mut f = failure(100.0, 1);
        f.kind = FailureKind::Throttled;
        for (share, window) in [(0.01, 10.0), (0.75, 15.0), (1.0, 20.0)] {
            f.window = share;
            assert_eq!(f.window_len(false), window);
        }
        f.count = 6;
        assert_eq!(f.window_len(false), 20.0, "no doubling");
        assert_eq!(
            f.window_len(true),
            600.0,
            "a usable token keeps the long backoff"
        );
    }

    #[test]
    fn a_record_holds_only_callers_it_speaks_for() {
        let mut f = failure(100.0, 1);
        f.inputs = "a".into();
        assert!(f.holds("a", 30.0));
        assert!(!f.holds("b", 30.0), "the inputs changed: maybe fixed");
        f.limit = Some(1.0);
        assert!(f.holds("a", 1.0));
        assert!(!f.holds("a", 30.0), "a longer timeout may succeed");
        f.inputs = String::new();
        f.limit = None;
        assert!(f.holds("anything", 30.0), "old records hold everyone");
    }

    #[test]
    fn streaks_continue_only_when_recent_and_alike() {
        let mut f = failure(1000.0, 4);
        f.inputs = "a".into();
        assert_eq!(Failure::streak_before(Some(&f), "a", 1100.0), 4);
        assert_eq!(Failure::streak_before(Some(&f), "b", 1100.0), 0);
        assert_eq!(Failure::streak_before(Some(&f), "a", 1000.0 + 3000.0), 0);
        assert_eq!(Failure::streak_before(None, "a", 1100.0), 0);
    }

    #[test]
    fn freshness() {
        let e = token(1000.0, H12);
        assert!(e.is_fresh(1000.0));
        assert!(e.is_fresh(22_000.0));
        assert!(!e.is_fresh(23_000.0));
        assert!(e.is_usable(23_000.0));
        assert!(!e.is_usable(44_150.0));
        let short = token(0.0, 4.0);
        assert!(short.is_usable(2.9));
        assert!(!short.is_usable(3.0));
        assert!(
            !token(10_000.0, 100.0).is_fresh(1000.0),
            "issued in the future"
        );
        let stepped_back = Lifetime {
            issued_at: 1100.0,
            expires_at: 990.0,
        };
        assert!(!stepped_back.is_fresh(1000.0));
    }
}
