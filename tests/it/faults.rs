//! Networks that fail, endpoints that stall, clocks that jump, helpers that die and cache files
//! that rot. `docker_helper` has the basic cases (two throttles, two 500s, access denied,
//! a hung endpoint with a 2 s budget, a killed refresher, corrupt files); these go further.

use crate::support;

use std::io::Write;
use std::net::TcpListener;
use std::process::Stdio;
use std::time::{Duration, Instant};
use support::*;

const PRIVATE: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com";

#[test]
fn an_endpoint_that_never_answers_fails_in_bounded_time_by_default() {
    let mut env = TestEnv::new();
    let (url, _listener) = silent_endpoint();
    env.set("AWS_ENDPOINT_URL_ECR", url);
    // No AWS_ECR_TIMEOUT: the default budget applies.
    let started = Instant::now();
    let out = env.get(PRIVATE); // run_bounded fails the test after 60 s
    let elapsed = started.elapsed();
    assert_not_found(&out);
    assert!(stderr(&out).contains("timed out"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"));
    eprintln!("silent endpoint, default timeout: failed after {elapsed:.1?}");
}

#[test]
fn a_refused_connection_is_a_network_error() {
    let mut env = TestEnv::new();
    // Bound then dropped: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    env.set("AWS_ENDPOINT_URL_ECR", format!("http://127.0.0.1:{port}"));
    let started = Instant::now();
    let out = env.get(PRIVATE);
    assert_not_found(&out);
    let err = stderr(&out);
    assert!(err.contains("network error"), "{err}");
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    eprintln!("connection refused: failed after {:.1?}", started.elapsed());
}

#[test]
fn ecr_public_rides_out_throttling_and_server_errors() {
    let env = TestEnv::new();
    env.aws.script([Reply::Throttle, Reply::Throttle]);
    env.get_ok("public.ecr.aws");
    assert_eq!(env.aws.count("ecr-public"), 3);

    let env = TestEnv::new();
    env.aws.script([Reply::ServerError, Reply::ServerError]);
    env.get_ok("public.ecr.aws");
    assert_eq!(env.aws.count("ecr-public"), 3);
}

#[test]
fn endless_throttling_is_explained_after_a_bounded_number_of_tries() {
    let env = TestEnv::new();
    env.aws.always(Reply::Throttle);
    let out = env.get(PRIVATE);
    assert_not_found(&out);
    assert!(stderr(&out).contains("throttled"), "{}", stderr(&out));
    // AWS_RETRY_MODE=standard: three attempts, then stop.
    assert_eq!(env.aws.count("ecr"), 3);
}

#[test]
fn access_denied_under_a_herd_is_one_call() {
    let env = TestEnv::new();
    env.aws.always(Reply::AccessDenied);
    let children = env.spawn_herd(8, PRIVATE);
    for child in children {
        let out = child.join().unwrap();
        assert_not_found(&out);
        assert!(
            stderr(&out).contains(fake_aws::IAM_MESSAGE),
            "{}",
            stderr(&out)
        );
    }
    // No retries, and the denial is remembered for the herd: one call, however many pulls.
    assert_eq!(env.aws.count("ecr"), 1);
}

#[test]
fn short_lived_tokens_are_never_served_after_they_expire() {
    let env = TestEnv::new();
    env.aws.set_lifetime(Duration::from_secs(4));
    let until = Instant::now() + Duration::from_secs(7);
    let mut served = 0;
    while Instant::now() < until {
        let answer = env.get_ok(PRIVATE);
        let received = now();
        let secret = answer["Secret"].as_str().unwrap();
        let expires = env
            .aws
            .issued()
            .into_iter()
            .find(|(p, _)| p == secret)
            .map(|(_, e)| e)
            .expect("a token the fake issued");
        assert!(
            received < expires,
            "served a token {:.2} s after it expired",
            received - expires
        );
        served += 1;
        // Pacing, not waiting for anything: keeps the loop from hogging the machine.
        std::thread::sleep(Duration::from_millis(25));
    }
    // Refreshed at half-life: at least one refresh per 2 s of the run.
    assert!(env.aws.count("ecr") >= 3, "{} calls", env.aws.count("ecr"));
    eprintln!(
        "4 s tokens, {served} gets over 7 s: {} API calls, none served expired",
        env.aws.count("ecr")
    );
}

/// A laptop wakes up and NTP steps the clock back: an entry's issue time is now in the
/// future, while its expiry (AWS's clock) has passed. It must not be served as fresh.
#[test]
fn a_clock_stepped_back_never_revives_an_expired_token() {
    let env = TestEnv::new();
    env.get_ok(PRIVATE);
    env.age_cache(now() + 120.0, now() - 10.0);
    env.aws.always(Reply::ServerError);
    let out = env.get(PRIVATE);
    assert_not_found(&out);

    let env = TestEnv::new();
    let first = env.get_ok(PRIVATE);
    env.age_cache(now() + 120.0, now() - 10.0);
    let second = env.get_ok(PRIVATE);
    assert_ne!(first["Secret"], second["Secret"]);
    assert_eq!(env.aws.count("ecr"), 2);
}

/// Processes already queued on the refresh lock when its holder is killed carry on: one of them
/// refreshes, the others find its token.
#[test]
fn waiters_behind_a_killed_refresher_carry_on() {
    let env = TestEnv::new();
    env.aws.set_delay(Duration::from_secs(30));
    let mut holder = env.spawn_get(PRIVATE);
    env.aws.wait_for_calls(1, Duration::from_secs(30));
    let waiters = env.spawn_herd(6, PRIVATE);
    // Let the waiters reach the lock (they cannot call the fake while it is held).
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(env.aws.total(), 1, "a waiter did not wait for the lock");
    env.aws.set_delay(Duration::ZERO);
    holder.kill().unwrap(); // SIGKILL, holding the refresh lock
    holder.wait().unwrap();
    let mut secrets = std::collections::BTreeSet::new();
    for w in waiters {
        let out = w.join().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        secrets.insert(v["Secret"].as_str().unwrap().to_string());
    }
    assert_eq!(secrets.len(), 1);
    assert_eq!(env.aws.count("ecr"), 2);
}

/// The path of the record a `get` of [`PRIVATE`] reads, emptied for a test to plant
/// something there: the record is named by its key, which only a first `get` tells.
fn emptied_record_path(env: &TestEnv) -> std::path::PathBuf {
    env.get_ok(PRIVATE);
    let path = env.cache_file();
    std::fs::remove_file(&path).unwrap();
    path
}

#[test]
fn a_fifo_at_the_cache_path_neither_blocks_nor_sticks() {
    let env = TestEnv::new();
    let record = emptied_record_path(&env);
    let path = std::ffi::CString::new(path_str(&record)).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
    let out = env.get(PRIVATE);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a regular file"),
        "{}",
        stderr(&out)
    );
    assert!(std::fs::metadata(&record).unwrap().is_file());
    env.get_ok(PRIVATE);
    assert_eq!(env.aws.total(), 2, "not healed");
}

#[test]
fn a_directory_at_the_cache_path_still_serves() {
    let env = TestEnv::new();
    let record = emptied_record_path(&env);
    std::fs::create_dir_all(&record).unwrap();
    let out = env.get(PRIVATE);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("could not save the token"),
        "{}",
        stderr(&out)
    );
    env.get_ok(PRIVATE);
}

#[test]
fn more_kinds_of_rot_heal() {
    let env = TestEnv::new();
    let good = {
        env.get_ok(PRIVATE);
        std::fs::read(env.cache_file()).unwrap()
    };
    let key = {
        let v: serde_json::Value = serde_json::from_slice(&good).unwrap();
        v["key"].as_str().unwrap().to_string()
    };
    // The version bumped, everything else as written.
    let newer = String::from_utf8_lossy(&good)
        .replacen("\"version\":3", "\"version\":9", 1)
        .into_bytes();
    assert_ne!(
        newer, good,
        "the cache record's version is not where this case expects it"
    );
    let mut cases: Vec<(String, Vec<u8>)> = vec![
        ("null".into(), b"null".to_vec()),
        ("NUL bytes".into(), vec![0; 512]),
        ("UTF-16".into(), b"\xff\xfe{\0}\0".to_vec()),
        (
            "entry is a list".into(),
            format!(r#"{{"version":3,"key":"{key}","entry":[]}}"#).into_bytes(),
        ),
        ("a newer format".into(), newer),
        ("the old format".into(), br#"{"version":2,"entries":{}}"#.to_vec()),
        (
            "a field of the wrong type".into(),
            format!(r#"{{"version":3,"key":"{key}","entry":{{"username":"AWS","password":"x","issued_at":"soon","expires_at":1}}}}"#).into_bytes(),
        ),
        (
            "a number out of range".into(),
            format!(r#"{{"version":3,"key":"{key}","entry":{{"username":"AWS","password":"x","issued_at":1e999,"expires_at":1e999}}}}"#).into_bytes(),
        ),
        (
            "another key's record".into(),
            format!(r#"{{"version":3,"key":"x{key}","entry":{{"username":"AWS","password":"x","issued_at":{now},"expires_at":{later}}}}}"#, now = now(), later = now() + 3600.0).into_bytes(),
        ),
        ("5 MiB".into(), {
            let mut big = format!(r#"{{"version":3,"key":"{key}","pad":""#).into_bytes();
            big.extend(std::iter::repeat_n(b'x', 5 << 20));
            big.extend(b"\"}");
            big
        }),
    ];
    for cut in [1, good.len() / 4, good.len() / 2, good.len() - 1] {
        cases.push((format!("cut at {cut}"), good[..cut].to_vec()));
    }
    for (name, bytes) in cases {
        std::fs::write(env.cache_file(), &bytes).unwrap();
        let before = env.aws.total();
        let out = env.get(PRIVATE);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{name}");
        assert_eq!(
            env.aws.total(),
            before + 1,
            "{name}: served from a rotten file?"
        );
        env.get_ok(PRIVATE);
        assert_eq!(
            env.aws.total(),
            before + 1,
            "{name}: the cache did not heal"
        );
    }
}

#[test]
fn a_client_that_never_closes_stdin_gets_an_answer() {
    let mut env = TestEnv::new();
    env.set("AWS_ECR_TIMEOUT", "1");
    let mut child = env
        .command(&["get"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Half a server URL, and the pipe stays open.
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"123456789012.dkr.ecr").unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("get hung on an open stdin");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout), NOT_FOUND);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("timed out waiting for input"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env.aws.total(), 0);
}
