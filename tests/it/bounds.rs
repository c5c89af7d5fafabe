//! Bounded time and bounded API calls when things go wrong: throttling, outages, hung or
//! stopped processes, files that block, clocks that disagree. Each test counts calls; time
//! bounds are generous margins under the old behaviour (the whole 30 s timeout), not timings.

use crate::support;

use std::process::Child;
use std::time::Duration;
use support::*;

const PRIVATE: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com";

#[test]
fn a_throttled_herd_makes_at_most_three_calls() {
    let env = TestEnv::new();
    env.aws.always(Reply::Throttle);
    for out in env.herd(64, PRIVATE) {
        assert_not_found(&out);
        assert!(stderr(&out).contains("throttled"), "{}", stderr(&out));
    }
    // The first caller's attempts (the SDK retries a throttle twice); everyone else learns of
    // the failure from the cache.
    let calls = env.aws.count("ecr");
    assert!(calls <= 3, "{calls} API calls for one key");
}

#[test]
fn an_outage_with_a_usable_token_costs_one_short_wait() {
    let mut env = TestEnv::new();
    let first = env.get_ok(PRIVATE);
    env.make_due();
    env.aws.always(Reply::Hang);
    let calls = env.aws.total();
    // Generous bound: the refresh budget is 3 s; the old behaviour was the 30 s timeout.
    env.set("AWS_ECR_TIMEOUT", "30");
    // Inline: this get refreshes itself (the background refresher is in tests/it/refresh.rs).
    env.set("AWS_ECR_REFRESH", "inline");
    let out = run_bounded(
        env.command(&["get"]),
        PRIVATE.as_bytes(),
        Duration::from_secs(15),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("using the cached one"),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.aws.total(), calls + 1);
    for _ in 0..5 {
        let out = run_bounded(
            env.command(&["get"]),
            PRIVATE.as_bytes(),
            Duration::from_secs(5),
        );
        assert!(out.status.success(), "{}", stderr(&out));
        let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(answer["Secret"], first["Secret"]);
    }
    assert_eq!(
        env.aws.total(),
        calls + 1,
        "a refresh known to fail was tried again"
    );
}

#[test]
fn a_stopped_refresher_does_not_hold_the_others() {
    let mut env = TestEnv::new();
    env.aws.script([Reply::Hang]);
    env.set("AWS_ECR_TIMEOUT", "25");
    let mut stuck: Child = env.spawn_get(PRIVATE);
    env.aws.wait_for_calls(1, Duration::from_secs(30));
    // SAFETY: plain signals to our own child.
    unsafe { libc::kill(stuck.id() as i32, libc::SIGSTOP) };
    let out = run_bounded(
        env.command(&["get"]),
        PRIVATE.as_bytes(),
        Duration::from_secs(20),
    );
    // SAFETY: as above.
    unsafe { libc::kill(stuck.id() as i32, libc::SIGCONT) };
    let _ = stuck.kill();
    let _ = stuck.wait();
    assert!(
        out.status.success(),
        "waited on a stopped holder: {}",
        stderr(&out)
    );
}

#[test]
fn a_token_already_expired_by_aws_clock_costs_a_herd_one_call() {
    let env = TestEnv::new();
    env.aws.set_expires_at(now() - 60.0);
    for out in env.herd(8, PRIVATE) {
        assert_not_found(&out);
        assert!(stderr(&out).contains("already expired"), "{}", stderr(&out));
    }
    assert_eq!(env.aws.count("ecr"), 1);
}

/// The local clock 13 hours fast: by it, every token AWS issues has expired an hour ago. By
/// AWS's own clock (its `Date`), it has 12 hours: served, and cached for them.
#[test]
fn a_fast_local_clock_still_caches_tokens() {
    let env = TestEnv::new();
    env.aws.set_clock_offset(-13.0 * 3600.0);
    for out in env.herd(8, PRIVATE) {
        assert!(out.status.success(), "{}", stderr(&out));
    }
    env.get_ok(PRIVATE);
    assert_eq!(env.aws.count("ecr"), 1);
}

#[test]
fn an_absurd_expiry_is_clamped_to_twelve_hours() {
    let env = TestEnv::new();
    env.aws.set_expires_at(1e13);
    env.get_ok(PRIVATE);
    let cache = env.cache_json();
    for (_, entry) in cache["entries"].as_object().unwrap() {
        let lifetime = entry["expires_at"].as_f64().unwrap() - entry["issued_at"].as_f64().unwrap();
        assert!(lifetime <= 12.0 * 3600.0 + 60.0, "{lifetime}");
    }
    // The kubelet refuses durations past Go's range; ours stays within the token's life.
    let body = kubelet_request(&format!("{PRIVATE}/app"));
    let out = env.run(&["kubelet"], body.as_bytes());
    assert!(out.status.success(), "{}", stderr(&out));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let duration = answer["cacheDuration"].as_str().unwrap().to_string();
    let hours: u64 = duration.split('h').next().unwrap().parse().unwrap();
    assert!(hours <= 6, "{duration}");
}

fn mkfifo(path: &std::path::Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// A FIFO (or a device) where a file should be: a clear error or a fallback, never a hang.
#[test]
fn files_that_would_block_or_never_end() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    for (var, value, must_succeed) in [
        ("AWS_CONFIG_FILE", path_str(&fifo), false),
        ("AWS_SHARED_CREDENTIALS_FILE", path_str(&fifo), false),
        ("AWS_CONFIG_FILE", "/dev/zero".to_string(), false),
        ("AWS_ECR_CONFIG", path_str(&fifo), false),
        ("AWS_ECR_LOG_FILE", path_str(&fifo), true),
    ] {
        let mut env = TestEnv::new();
        env.set(var, value.clone());
        env.set("AWS_ECR_TIMEOUT", "20");
        let out = run_bounded(
            env.command(&["get"]),
            PRIVATE.as_bytes(),
            Duration::from_secs(10),
        );
        if must_succeed {
            assert!(out.status.success(), "{var}={value}: {}", stderr(&out));
        } else {
            assert_not_found(&out);
            assert!(
                stderr(&out).contains("not a regular file"),
                "{var}={value}: {}",
                stderr(&out)
            );
        }
    }
}

/// The kubelet with its log file a FIFO and a failing request: the answer still comes.
#[test]
fn the_kubelet_answers_a_failing_request_with_a_fifo_for_a_log() {
    let mut env = TestEnv::new();
    let fifo = env.dir.path().join("log-fifo");
    mkfifo(&fifo);
    env.set("AWS_ECR_LOG_FILE", path_str(&fifo));
    env.aws.always(Reply::AccessDenied);
    let body = kubelet_request(&format!("{PRIVATE}/app"));
    let out = run_bounded(
        env.command(&["kubelet"]),
        body.as_bytes(),
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("access denied"), "{}", stderr(&out));
}
