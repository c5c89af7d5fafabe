//! Fleet simulation: N kubelets that need an ECR token at about the same time, against ECR's
//! token bucket, in virtual time (nothing sleeps). Prints figures; asserts nothing.
//!
//! Every decision a node makes runs the helper's own code (`ecr_login::for_benches`):
//! `decide` and `Failure::retry_in` for when to ask AWS again, `Failure::streak_before` for the
//! failure count, `next_try` for the kubelet plugin's wait-and-retry within its deadline. Only
//! the world around it is modelled here:
//!
//! - ECR: one account and region, `GetAuthorizationToken` behind a token bucket of 20 tokens a
//!   second and a burst of 200 (ECR's documented quota). A call finding a token succeeds, any
//!   other is throttled. A call is judged when it starts and answered `FLEET_LATENCY` later.
//! - The SDK's standard retry strategy (aws-smithy-runtime 1.16, `retries/strategy/standard.rs`
//!   with aws-smithy-types' `RetryConfig` defaults): up to 3 attempts per fetch; after a
//!   throttled attempt `k` (1-based) it sleeps `U[0,1) * min(1 s * 2^(k-1), 20 s)` ("full
//!   jitter", initial backoff 1 s, cap 20 s); no client-side rate limiter (standard mode). The
//!   SDK's retry quota (500, 5 a retry) is per process and never runs out in 3 attempts. An
//!   attempt that would start after the fetch's deadline ends the fetch as a timeout, as the
//!   operation timeout does.
//! - Each node: its own cache (a token or none, a failure record or none); its first pod
//!   arrives uniformly over `FLEET_ARRIVAL` seconds and the kubelet runs the credential plugin,
//!   which has `FLEET_TIMEOUT` seconds (`AWS_ECR_TIMEOUT`, default 30 s; the kubelet allows the
//!   plugin 60 s). A failed fetch is recorded at once with the streak rule and a window share
//!   drawn from this file's seeded PRNG. When the plugin fails, the kubelet's image-pull
//!   backoff for the pod (10 s doubling to 5 min) runs before it invokes the plugin again.
//!
//! Two behaviours are compared: "exact" (every window share 1, and the plugin answers a
//! throttled fetch or a remembered throttle at once: the code before jitter) and "jittered" (the
//! current code: shares drawn in (0, 1], and the plugin waits out the remembered window while a
//! try still fits in its deadline).
//!
//! Run: `cargo bench --bench fleet`. Knobs (environment): `FLEET_NODES` (default 2000; a
//! comma-separated list runs each), `FLEET_SEED` (first seed, default 1), `FLEET_SEEDS` (seeds
//! per figure, default 5: the table shows the worst seed), `FLEET_TIMEOUT` (30),
//! `FLEET_LATENCY` (0.1 s), `FLEET_ARRIVAL` (60 s), `FLEET_TRY` (more rows: other shapes and
//! parameters, see [`tried`]), `FLEET_EXPLORE=1` (also search backoff parameters and shapes
//! for the target: every node served within 1.25x the bound, at most 2N calls).
//!
//! The bound is the quota's: `(N - 200) / 20` seconds, and never less than the arrivals take.

use ecr_login::for_benches::{
    Backoff, CALLER_RETRY_ATTEMPTS, Decision, Failure, FailureKind, MIN_TRY, NO_TOKEN_BACKOFF,
    THROTTLED_BACKOFF, decide, next_try, next_try_with, record_reserve,
};
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::Duration;

/// ECR's quota for `GetAuthorizationToken`, per account and region.
const BUCKET_RATE: f64 = 20.0;
const BUCKET_BURST: f64 = 200.0;
/// The SDK's standard retry: attempts per operation, initial backoff, cap.
const SDK_ATTEMPTS: u32 = 3;
const SDK_INITIAL_BACKOFF: f64 = 1.0;
const SDK_MAX_BACKOFF: f64 = 20.0;
/// The kubelet's image-pull backoff, per pod.
const KUBELET_BACKOFF: (f64, f64) = (10.0, 300.0);

/// How a window is drawn from the backoff.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    /// The whole window, always (the code before jitter).
    Exact,
    /// A uniform share of it, `(0, 1]` ("full jitter", the current code).
    Full,
    /// Half of it plus a uniform share of the other half ("equal jitter"): still the real
    /// code, with the share drawn in `(0.5, 1]`.
    Equal,
    /// `min(cap, U[base, 3 * previous window])` ("decorrelated jitter"): a candidate the
    /// helper does not implement, computed here.
    Decorrelated,
}

/// One behaviour of the fleet.
#[derive(Debug, Clone, Copy)]
struct Policy {
    shape: Shape,
    /// `None`: the helper's own constants, through `decide` and `next_try` exactly as the
    /// helper calls them. `Some`: other values, through the same code (`Backoff::window`,
    /// `Failure::retry_in_under`, `next_try_with`).
    tuned: Option<Tuning>,
    /// Whether the plugin waits out a throttle within its deadline (the current code).
    plugin_retries: bool,
    timeout: f64,
}

#[derive(Debug, Clone, Copy)]
struct Tuning {
    backoff: Backoff,
    min_try: f64,
    sdk_attempts: u32,
}

impl Policy {
    /// The code before failures were jittered and kinds recorded: 5 s doubling to 60 s for
    /// every failure, the whole window, three SDK attempts, a plugin that fails at once.
    fn exact(timeout: f64) -> Policy {
        Policy {
            shape: Shape::Exact,
            tuned: Some(Tuning {
                backoff: NO_TOKEN_BACKOFF,
                min_try: MIN_TRY.as_secs_f64(),
                sdk_attempts: SDK_ATTEMPTS,
            }),
            plugin_retries: false,
            timeout,
        }
    }

    fn jittered(timeout: f64) -> Policy {
        Policy {
            shape: Shape::Full,
            tuned: None,
            plugin_retries: true,
            timeout,
        }
    }

    /// The plugin's SDK attempts per try: the helper's own when untuned.
    fn sdk_attempts(&self) -> u32 {
        self.tuned.map_or(CALLER_RETRY_ATTEMPTS, |t| t.sdk_attempts)
    }

    /// The backoff after throttling without a token: the helper's own when untuned.
    fn backoff(&self) -> Backoff {
        self.tuned.map_or(THROTTLED_BACKOFF, |t| t.backoff)
    }

    fn describe(&self) -> String {
        let b = self.backoff();
        let t = self.tuned.map_or(MIN_TRY.as_secs_f64(), |t| t.min_try);
        format!(
            "{:<12} base {:>4.0} s cap {:>4.0} s min {:>3.1} s sdk {} min_try {:.1} s timeout {:.0} s",
            format!("{:?}", self.shape).to_lowercase(),
            b.base,
            b.cap,
            b.min_window,
            self.sdk_attempts(),
            t,
            self.timeout
        )
    }
}

/// SplitMix64: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `(0, 1]`, as the helper's `jitter()`.
    fn share(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }
}

struct Bucket {
    tokens: f64,
    at: f64,
}

impl Bucket {
    fn take(&mut self, now: f64) -> bool {
        self.tokens = (self.tokens + (now - self.at) * BUCKET_RATE).min(BUCKET_BURST);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Step {
    /// The kubelet runs the plugin.
    Invoke,
    /// The plugin asks the cache (`token_for`).
    TokenFor,
    /// The SDK makes attempt `n` (1-based) of a fetch.
    Attempt(u32),
}

struct Event {
    at: f64,
    seq: u64,
    node: usize,
    step: Step,
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Event {}
impl PartialOrd for Event {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Event {
    /// Earliest first in a max-heap.
    fn cmp(&self, other: &Self) -> Ordering {
        other.at.total_cmp(&self.at).then(other.seq.cmp(&self.seq))
    }
}

#[derive(Default)]
struct Node {
    arrival: f64,
    served: Option<f64>,
    failure: Option<Failure>,
    /// The current plugin invocation's deadline, and its fetch's (less the time to record).
    deadline: f64,
    fetch_deadline: f64,
    /// Plugin invocations that failed: the kubelet's backoff doubles with them.
    pulls_failed: u32,
    /// The last window, for the decorrelated shape.
    window: f64,
}

#[derive(Debug, Default, Clone, Copy)]
struct Figures {
    /// Seconds from the first arrival until every node has a token.
    all_served: f64,
    calls: u64,
    throttled: u64,
    slowest_wait: f64,
    p50_wait: f64,
    p99_wait: f64,
    /// Plugin invocations that ended in an error (the kubelet backed off).
    plugin_failures: u64,
    /// Fetches the deadline cut short.
    timeouts: u64,
    unserved: usize,
}

struct Sim<'a> {
    policy: &'a Policy,
    rng: Rng,
    bucket: Bucket,
    nodes: Vec<Node>,
    queue: BinaryHeap<Event>,
    seq: u64,
    latency: f64,
    fig: Figures,
}

/// Simulated time after which the run stops (nodes not served by then are counted unserved).
const HORIZON: f64 = 3600.0;

fn simulate(policy: &Policy, nodes: usize, seed: u64, arrival: f64, latency: f64) -> Figures {
    let mut sim = Sim {
        policy,
        rng: Rng(seed),
        bucket: Bucket {
            tokens: BUCKET_BURST,
            at: 0.0,
        },
        nodes: Vec::with_capacity(nodes),
        queue: BinaryHeap::new(),
        seq: 0,
        latency,
        fig: Figures::default(),
    };
    for i in 0..nodes {
        let at = sim.rng.unit() * arrival;
        sim.nodes.push(Node {
            arrival: at,
            ..Node::default()
        });
        sim.schedule(at, i, Step::Invoke);
    }
    while let Some(ev) = sim.queue.pop() {
        if ev.at > HORIZON {
            break;
        }
        sim.step(ev.at, ev.node, ev.step);
    }
    sim.figures()
}

impl Sim<'_> {
    fn schedule(&mut self, at: f64, node: usize, step: Step) {
        self.seq += 1;
        self.queue.push(Event {
            at,
            seq: self.seq,
            node,
            step,
        });
    }

    fn step(&mut self, now: f64, i: usize, step: Step) {
        match step {
            Step::Invoke => {
                self.nodes[i].deadline = now + self.policy.timeout;
                self.token_for(now, i);
            }
            Step::TokenFor => self.token_for(now, i),
            Step::Attempt(n) => self.attempt(now, i, n),
        }
    }

    /// `token_for` on a node without a token: a remembered failure answers at once, otherwise
    /// the SDK fetches.
    fn token_for(&mut self, now: f64, i: usize) {
        match self.decision(now, i) {
            Decision::FailFast(retry_in) => {
                let kind = self.nodes[i].failure.as_ref().map(|f| f.kind);
                self.plugin_error(now, i, kind, retry_in);
            }
            // `Refresh`: a node with a token is done and asks nothing more.
            _ => {
                let timeout = Duration::from_secs_f64(self.policy.timeout);
                self.nodes[i].fetch_deadline =
                    self.nodes[i].deadline - record_reserve(timeout).as_secs_f64();
                self.attempt(now, i, 1);
            }
        }
    }

    fn decision(&self, now: f64, i: usize) -> Decision {
        let node = &self.nodes[i];
        let timeout = self.policy.timeout;
        let failure = node.failure.as_ref().filter(|f| f.holds("", timeout));
        match (self.policy.shape, self.policy.tuned) {
            (Shape::Decorrelated, _) => {
                let left = failure.map_or(0.0, |f| (f.at + node.window - now).max(0.0));
                if left > 0.0 {
                    Decision::FailFast(left)
                } else {
                    Decision::Refresh
                }
            }
            // The helper's own decision, constants and all.
            (_, None) => decide(None, failure, now, None),
            (_, Some(t)) => {
                let left = failure.map_or(0.0, |f| f.retry_in_under(&t.backoff, now));
                if left > 0.0 {
                    Decision::FailFast(left)
                } else {
                    Decision::Refresh
                }
            }
        }
    }

    fn attempt(&mut self, now: f64, i: usize, n: u32) {
        let fetch_deadline = self.nodes[i].fetch_deadline;
        if now >= fetch_deadline {
            self.fig.timeouts += 1;
            self.record(now, i, FailureKind::Network);
            self.plugin_error(now, i, Some(FailureKind::Network), 0.0);
            return;
        }
        self.fig.calls += 1;
        let answered = now + self.latency;
        if self.bucket.take(now) {
            self.nodes[i].served = Some(answered);
            return;
        }
        self.fig.throttled += 1;
        if n < self.policy.sdk_attempts() {
            let cap = (SDK_INITIAL_BACKOFF * f64::from(1u32 << (n - 1))).min(SDK_MAX_BACKOFF);
            // The operation timeout ends the sleep at the fetch's deadline.
            let next = (answered + self.rng.unit() * cap).min(fetch_deadline);
            self.schedule(next, i, Step::Attempt(n + 1));
        } else {
            self.record(answered, i, FailureKind::Throttled);
            self.plugin_error(answered, i, Some(FailureKind::Throttled), 0.0);
        }
    }

    /// `Cache::record_failure`: the streak rule, and this node's share of the window.
    fn record(&mut self, now: f64, i: usize, kind: FailureKind) {
        let share = match self.policy.shape {
            Shape::Exact => 1.0,
            Shape::Full | Shape::Decorrelated => self.rng.share(),
            Shape::Equal => 0.5 + 0.5 * self.rng.share(),
        };
        let node = &self.nodes[i];
        let count = Failure::streak_before(node.failure.as_ref(), "", now).saturating_add(1);
        let window = if self.policy.shape == Shape::Decorrelated {
            let b = self.policy.backoff();
            let previous = if count == 1 { b.base } else { node.window };
            (b.base + share * (3.0 * previous - b.base).max(0.0)).min(b.cap)
        } else {
            node.window
        };
        let limit = (kind == FailureKind::Network).then_some(self.policy.timeout);
        let node = &mut self.nodes[i];
        node.window = window;
        node.failure = Some(Failure {
            reason: String::new(),
            at: now,
            count,
            kind,
            window: share,
            inputs: String::new(),
            limit,
            refused: None,
        });
    }

    /// The plugin's answer to an error: wait out a throttle and try again while a try fits
    /// (`token_through_throttling`), or fail, and the kubelet backs off.
    fn plugin_error(&mut self, now: f64, i: usize, kind: Option<FailureKind>, retry_in: f64) {
        if self.policy.plugin_retries && kind == Some(FailureKind::Throttled) {
            let left = Duration::from_secs_f64((self.nodes[i].deadline - now).max(0.0));
            let timeout = Duration::from_secs_f64(self.policy.timeout);
            let retry_in = Duration::from_secs_f64(retry_in.max(0.0));
            let wait = match self.policy.tuned {
                None => next_try(retry_in, left, timeout),
                Some(t) => {
                    next_try_with(Duration::from_secs_f64(t.min_try), retry_in, left, timeout)
                }
            };
            if let Some(wait) = wait {
                self.schedule(now + wait.as_secs_f64(), i, Step::TokenFor);
                return;
            }
        }
        self.fig.plugin_failures += 1;
        let node = &mut self.nodes[i];
        node.pulls_failed += 1;
        let (base, cap) = KUBELET_BACKOFF;
        let backoff = (base * f64::from(1u32 << (node.pulls_failed - 1).min(16))).min(cap);
        self.schedule(now + backoff, i, Step::Invoke);
    }

    fn figures(mut self) -> Figures {
        let mut waits: Vec<f64> = Vec::with_capacity(self.nodes.len());
        for node in &self.nodes {
            match node.served {
                Some(at) => {
                    self.fig.all_served = self.fig.all_served.max(at);
                    waits.push(at - node.arrival);
                }
                None => self.fig.unserved += 1,
            }
        }
        waits.sort_by(f64::total_cmp);
        let pick = |q: f64| {
            waits
                .get(((waits.len() as f64 - 1.0) * q).round() as usize)
                .copied()
                .unwrap_or(0.0)
        };
        self.fig.slowest_wait = pick(1.0);
        self.fig.p50_wait = pick(0.5);
        self.fig.p99_wait = pick(0.99);
        self.fig
    }
}

/// What one run is given.
#[derive(Clone, Copy)]
struct World {
    nodes: usize,
    seed: u64,
    seeds: u64,
    arrival: f64,
    latency: f64,
}

impl World {
    /// The earliest every node can have a token: the bucket's burst, then its rate, and no
    /// earlier than the last arrival (nor than one answer).
    fn bound(&self) -> f64 {
        ((self.nodes as f64 - BUCKET_BURST) / BUCKET_RATE)
            .max(self.arrival)
            .max(self.latency)
    }

    fn meets_target(&self, f: &Figures) -> bool {
        f.unserved == 0 && f.all_served <= 1.25 * self.bound() && f.calls <= 2 * self.nodes as u64
    }

    /// The worst figures over the seeds: a target met here is met by every seed.
    fn run(&self, policy: &Policy) -> Figures {
        let runs: Vec<Figures> = (self.seed..self.seed + self.seeds)
            .map(|seed| simulate(policy, self.nodes, seed, self.arrival, self.latency))
            .collect();
        let mut worst = Figures::default();
        for f in runs {
            worst.all_served = worst.all_served.max(f.all_served);
            worst.calls = worst.calls.max(f.calls);
            worst.throttled = worst.throttled.max(f.throttled);
            worst.slowest_wait = worst.slowest_wait.max(f.slowest_wait);
            worst.p50_wait = worst.p50_wait.max(f.p50_wait);
            worst.p99_wait = worst.p99_wait.max(f.p99_wait);
            worst.plugin_failures = worst.plugin_failures.max(f.plugin_failures);
            worst.timeouts = worst.timeouts.max(f.timeouts);
            worst.unserved = worst.unserved.max(f.unserved);
        }
        worst
    }
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| {
            eprintln!("fleet: {name}={v:?} is not a valid value; using the default");
            default
        }),
        Err(_) => default,
    }
}

/// A number of seconds from the environment, finite and within `lo..=hi`.
fn env_secs(name: &str, default: f64, lo: f64, hi: f64) -> f64 {
    let v: f64 = env(name, default);
    if v.is_finite() && (lo..=hi).contains(&v) {
        v
    } else {
        eprintln!("fleet: {name} must be between {lo} and {hi} seconds; using {default}");
        default
    }
}

fn header() {
    println!(
        "{:<10} {:>10} {:>7} {:>7} {:>9} {:>9} {:>8} {:>8} {:>8} {:>6}  target",
        "backoff",
        "all served",
        "x bound",
        "calls",
        "throttled",
        "slowest",
        "p50",
        "p99",
        "gave up",
        "unserved"
    );
}

fn row(world: &World, label: &str, f: &Figures) {
    println!(
        "{:<10} {:>8.1} s {:>7.2} {:>7} {:>9} {:>7.1} s {:>6.1} s {:>6.1} s {:>8} {:>6}  {}",
        label,
        f.all_served,
        f.all_served / world.bound(),
        f.calls,
        f.throttled,
        f.slowest_wait,
        f.p50_wait,
        f.p99_wait,
        f.plugin_failures,
        f.unserved,
        if world.meets_target(f) {
            "met"
        } else {
            "missed"
        }
    );
}

/// Backoff shapes and parameters, searched for the target at the first fleet size.
fn explore(world: &World, timeout: f64, others: &[usize]) {
    println!();
    println!(
        "exploring backoff parameters for N = {} ({} seeds, worst shown): target all served by {:.1} s, at most {} calls",
        world.nodes,
        world.seeds,
        1.25 * world.bound(),
        2 * world.nodes
    );
    let mut results: Vec<(Policy, Figures)> = Vec::new();
    for shape in [Shape::Full, Shape::Equal, Shape::Decorrelated] {
        for base in [5.0, 10.0, 15.0, 20.0, 30.0] {
            for cap in [20.0, 30.0, 45.0, 60.0, 120.0, 240.0] {
                if cap < base {
                    continue;
                }
                let floors: &[f64] = if shape == Shape::Full {
                    &[1.0, 5.0, 10.0]
                } else {
                    &[1.0]
                };
                for &min_window in floors {
                    for sdk_attempts in [1, 2, 3] {
                        for timeout in [timeout, 55.0] {
                            let policy = Policy {
                                shape,
                                tuned: Some(Tuning {
                                    backoff: Backoff {
                                        base,
                                        cap,
                                        min_window,
                                    },
                                    min_try: MIN_TRY.as_secs_f64(),
                                    sdk_attempts,
                                }),
                                plugin_retries: true,
                                timeout,
                            };
                            results.push((policy, world.run(&policy)));
                        }
                    }
                }
            }
        }
    }
    // Closest to the target first: the larger of the two ratios to it.
    let score = |f: &Figures| {
        let time = f.all_served / (1.25 * world.bound());
        let calls = f.calls as f64 / (2 * world.nodes) as f64;
        if f.unserved > 0 {
            f64::INFINITY
        } else {
            time.max(calls)
        }
    };
    results.sort_by(|a, b| score(&a.1).total_cmp(&score(&b.1)));
    let met = results.iter().filter(|r| world.meets_target(&r.1)).count();
    println!(
        "{met} of {} combinations meet the target; the 15 closest:",
        results.len()
    );
    for (policy, f) in results.iter().take(15) {
        println!(
            "  {}: all served {:.1} s ({:.2}x), {} calls, slowest {:.1} s, gave up {}",
            policy.describe(),
            f.all_served,
            f.all_served / world.bound(),
            f.calls,
            f.slowest_wait,
            f.plugin_failures
        );
    }
    // The best of each shape and SDK attempt count: what the shape and the SDK's own retries
    // are worth.
    println!("the best of each shape and SDK attempt count:");
    for shape in [Shape::Full, Shape::Equal, Shape::Decorrelated] {
        for sdk in [1, 2, 3] {
            if let Some((policy, f)) = results
                .iter()
                .find(|r| r.0.shape == shape && r.0.tuned.is_some_and(|t| t.sdk_attempts == sdk))
            {
                println!(
                    "  {}: {:.1} s ({:.2}x), {} calls, slowest {:.1} s, {}",
                    policy.describe(),
                    f.all_served,
                    f.all_served / world.bound(),
                    f.calls,
                    f.slowest_wait,
                    if world.meets_target(f) {
                        "met"
                    } else {
                        "missed"
                    }
                );
            }
        }
    }
    // What the constants alone can do: the shape the helper has (full jitter), the SDK's
    // attempts as they are and the configured timeout; the ones no other beats on both time
    // and calls.
    println!(
        "full jitter with {SDK_ATTEMPTS} SDK attempts and a {timeout:.0} s timeout (the constants alone), the ones not beaten on both time and calls:"
    );
    let alone: Vec<&(Policy, Figures)> = results
        .iter()
        .filter(|r| {
            r.0.shape == Shape::Full
                && r.0.timeout == timeout
                && r.0.tuned.is_some_and(|t| t.sdk_attempts == SDK_ATTEMPTS)
        })
        .collect();
    for (policy, f) in &alone {
        let beaten = alone.iter().any(|(_, g)| {
            (g.all_served < f.all_served && g.calls <= f.calls)
                || (g.all_served <= f.all_served && g.calls < f.calls)
        });
        if !beaten {
            println!(
                "  {}: {:.1} s ({:.2}x), {} calls, slowest {:.1} s",
                policy.describe(),
                f.all_served,
                f.all_served / world.bound(),
                f.calls,
                f.slowest_wait
            );
        }
    }
    println!("5 s doubling to 60 s (the old constants) with fewer SDK attempts:");
    for sdk_attempts in [1, 2] {
        let policy = Policy {
            tuned: Some(Tuning {
                backoff: NO_TOKEN_BACKOFF,
                min_try: MIN_TRY.as_secs_f64(),
                sdk_attempts,
            }),
            ..Policy::jittered(timeout)
        };
        let f = world.run(&policy);
        println!(
            "  {}: {:.1} s ({:.2}x), {} calls, slowest {:.1} s, {}",
            policy.describe(),
            f.all_served,
            f.all_served / world.bound(),
            f.calls,
            f.slowest_wait,
            if world.meets_target(&f) {
                "met"
            } else {
                "missed"
            }
        );
    }
    // The same candidates at the other fleet sizes: a backoff tuned for one size may not
    // carry to another.
    if !others.is_empty() {
        println!("the 10 closest and the best of each shape, at the other sizes:");
        let mut shown: Vec<Policy> = results.iter().take(10).map(|r| r.0).collect();
        for shape in [Shape::Full, Shape::Equal, Shape::Decorrelated] {
            for sdk in [1, 3] {
                if let Some((p, _)) = results.iter().find(|r| {
                    r.0.shape == shape && r.0.tuned.is_some_and(|t| t.sdk_attempts == sdk)
                }) {
                    shown.push(*p);
                }
            }
        }
        for policy in shown {
            print!("  {}:", policy.describe());
            for &nodes in others {
                let at = World { nodes, ..*world };
                let f = at.run(&policy);
                print!(
                    "  N={nodes}: {:.1} s ({:.2}x) {} calls {}",
                    f.all_served,
                    f.all_served / at.bound(),
                    f.calls,
                    if at.meets_target(&f) { "met" } else { "missed" }
                );
            }
            println!();
        }
    }
    // The least try worth starting, for the best combination.
    if let Some((best, _)) = results.first() {
        println!("the least try (MIN_TRY) for the best combination:");
        for min_try in [0.5, 1.0, 2.0, 5.0, 10.0] {
            let mut policy = *best;
            if let Some(t) = policy.tuned.as_mut() {
                t.min_try = min_try;
            }
            let f = world.run(&policy);
            println!(
                "  {}: {:.1} s, {} calls, gave up {}",
                policy.describe(),
                f.all_served,
                f.calls,
                f.plugin_failures
            );
        }
    }
}

/// The tuned path (`Backoff::window`, `retry_in_under`, `next_try_with`), given the helper's
/// own constants, must reproduce the helper's own decisions: else the search means nothing.
fn check_tuned_path(world: &World, timeout: f64) -> bool {
    let tuned = Policy {
        tuned: Some(Tuning {
            backoff: THROTTLED_BACKOFF,
            min_try: MIN_TRY.as_secs_f64(),
            sdk_attempts: CALLER_RETRY_ATTEMPTS,
        }),
        ..Policy::jittered(timeout)
    };
    let a = world.run(&Policy::jittered(timeout));
    let b = world.run(&tuned);
    a.calls == b.calls && a.all_served == b.all_served && a.slowest_wait == b.slowest_wait
}

/// `FLEET_TRY`: more behaviours for the table, `;`-separated, each
/// `SHAPE:BASE:CAP:MIN_WINDOW:SDK_ATTEMPTS[:TIMEOUT]` with SHAPE one of exact, full, equal,
/// decorrelated (e.g. `full:30:30:5:3`), run through the tuned path with the plugin retrying.
fn tried(timeout: f64) -> Vec<(String, Policy)> {
    let Ok(spec) = std::env::var("FLEET_TRY") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in spec.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let parts: Vec<&str> = item.split(':').collect();
        let shape = match parts.first().copied() {
            Some("exact") => Some(Shape::Exact),
            Some("full") => Some(Shape::Full),
            Some("equal") => Some(Shape::Equal),
            Some("decorrelated") => Some(Shape::Decorrelated),
            _ => None,
        };
        let num = |i: usize| {
            parts
                .get(i)
                .and_then(|p| p.parse::<f64>().ok())
                .filter(|v| v.is_finite() && (0.0..=3600.0).contains(v))
        };
        let (Some(shape), Some(base), Some(cap), Some(min_window), Some(sdk)) =
            (shape, num(1), num(2), num(3), num(4))
        else {
            eprintln!(
                "fleet: FLEET_TRY item {item:?} is not SHAPE:BASE:CAP:MIN_WINDOW:SDK_ATTEMPTS[:TIMEOUT]; skipped"
            );
            continue;
        };
        let policy = Policy {
            shape,
            tuned: Some(Tuning {
                backoff: Backoff {
                    base,
                    cap,
                    min_window,
                },
                min_try: MIN_TRY.as_secs_f64(),
                sdk_attempts: (sdk as u32).clamp(1, 10),
            }),
            plugin_retries: true,
            timeout: num(5).unwrap_or(timeout).clamp(1.0, 600.0),
        };
        if policy.backoff().cap < policy.backoff().base {
            eprintln!("fleet: FLEET_TRY item {item:?} has a cap below its base; skipped");
            continue;
        }
        out.push((format!("try {}", out.len() + 1), policy));
    }
    out
}

fn main() {
    let mut sizes: Vec<usize> = std::env::var("FLEET_NODES")
        .unwrap_or_else(|_| "2000".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .filter(|&n| (1..=1_000_000).contains(&n))
        .collect();
    if sizes.is_empty() {
        eprintln!(
            "fleet: FLEET_NODES takes node counts (1 to 1000000), comma-separated; using 2000"
        );
        sizes.push(2000);
    }
    let timeout = env_secs("FLEET_TIMEOUT", 30.0, 1.0, 600.0);
    let mut world = World {
        nodes: 0,
        seed: env("FLEET_SEED", 1),
        seeds: env("FLEET_SEEDS", 5_u64).clamp(1, 100),
        arrival: env_secs("FLEET_ARRIVAL", 60.0, 0.0, 3600.0),
        latency: env_secs("FLEET_LATENCY", 0.1, 0.0, 10.0),
    };
    println!(
        "fleet: nodes arriving over {:.0} s, one account and region, bucket {BUCKET_RATE}/s burst {BUCKET_BURST}, \
         plugin timeout {timeout:.0} s, latency {:.2} s; worst of {} seeds from {}\n\
         exact: the old code (5 s doubling to 60 s, whole windows, {SDK_ATTEMPTS} SDK attempts a fetch, \
         the plugin fails at once); jittered: this code (after throttling a window of 10-20 s, \
         {CALLER_RETRY_ATTEMPTS} SDK attempt a try, the plugin waits and tries again in its deadline)",
        world.arrival, world.latency, world.seeds, world.seed
    );
    let tried = tried(timeout);
    for &nodes in &sizes {
        world.nodes = nodes;
        println!();
        println!(
            "N = {nodes}: bound {:.1} s (max of (N - {BUCKET_BURST}) / {BUCKET_RATE} and the arrivals); target: within {:.1} s, at most {} calls",
            world.bound(),
            1.25 * world.bound(),
            2 * nodes
        );
        header();
        row(&world, "exact", &world.run(&Policy::exact(timeout)));
        row(&world, "jittered", &world.run(&Policy::jittered(timeout)));
        for (label, policy) in &tried {
            row(&world, label, &world.run(policy));
        }
    }
    for (label, policy) in &tried {
        println!("{label}: {}", policy.describe());
    }
    if std::env::var("FLEET_EXPLORE").is_ok_and(|v| v == "1") {
        world.nodes = sizes.first().copied().unwrap_or(2000);
        if !check_tuned_path(&world, timeout) {
            println!(
                "fleet: the tuned path does not reproduce the helper's decisions; not exploring"
            );
            return;
        }
        explore(&world, timeout, sizes.get(1..).unwrap_or(&[]));
    }
}
