//! The cache at the scale of a Kubernetes node with per-pod roles or a CI runner with many
//! accounts: a thousand identities stay cached, and what nobody needs any more is removed.

use crate::support;

use std::path::PathBuf;
use std::time::Duration;
use support::*;

const HOST: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com";

/// The environment of identity `i`: its own access key, so its own cache key.
fn identity(env: &TestEnv, i: usize) -> std::process::Command {
    let mut cmd = env.command(&["get"]);
    cmd.env("AWS_ACCESS_KEY_ID", format!("AKIAFAKE{i:012}"));
    cmd
}

/// Runs `get` for identities `0..n`, four at a time, and returns their passwords.
fn get_all(env: &TestEnv, n: usize) -> Vec<String> {
    let workers = 4;
    let mut secrets = vec![String::new(); n];
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                scope.spawn(move || {
                    (w..n)
                        .step_by(workers)
                        .map(|i| {
                            let out = run_bounded(
                                identity(env, i),
                                HOST.as_bytes(),
                                Duration::from_secs(60),
                            );
                            assert!(out.status.success(), "identity {i}: {}", stderr(&out));
                            let v: serde_json::Value =
                                serde_json::from_slice(&out.stdout).expect("JSON");
                            (i, v["Secret"].as_str().unwrap_or_default().to_string())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for handle in handles {
            for (i, secret) in handle.join().expect("a worker") {
                secrets[i] = secret;
            }
        }
    });
    secrets
}

/// The old file held 256 entries: the 257th identity evicted the oldest, whose next pull
/// called AWS again.
#[test]
fn a_thousand_identities_stay_cached() {
    let env = TestEnv::new();
    let first = get_all(&env, 1000);
    assert_eq!(env.aws.count("ecr"), 1000);
    let again = get_all(&env, 1000);
    assert_eq!(
        env.aws.count("ecr"),
        1000,
        "an identity's token was evicted"
    );
    assert_eq!(first, again);
}

/// The lock files under the cache directory.
fn lock_files(env: &TestEnv) -> Vec<PathBuf> {
    paths_under(&env.cache_dir())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "lock"))
        .collect()
}

/// Three identities whose tokens expired and whose refresh locks nobody has used for an hour:
/// the next write removes their records and locks. The old cache kept one lock file per key
/// forever.
#[test]
fn expired_records_and_unused_locks_are_removed() {
    let env = TestEnv::new();
    get_all(&env, 3);
    assert_eq!(lock_files(&env).len(), 3 + 1);
    let now = now();
    env.age_cache(now - 13.0 * 3600.0, now - 3600.0);
    env.backdate_cache_files(Duration::from_secs(3600));

    let out = run_bounded(identity(&env, 7), HOST.as_bytes(), Duration::from_secs(60));
    assert!(out.status.success(), "{}", stderr(&out));

    let locks = lock_files(&env);
    assert!(
        locks.len() <= 2,
        "unused lock files kept (the new identity's and the write lock at most): {locks:?}"
    );
    assert_eq!(env.record_files().len(), 1, "expired records kept");
    assert_eq!(env.cache_json()["entries"].as_object().unwrap().len(), 1);
}

/// The single file of earlier versions holds tokens no version reads any more: removed.
#[test]
fn the_old_single_cache_file_is_removed() {
    let env = TestEnv::new();
    let old = env.cache_dir().join("ecr-login-cache.json");
    std::fs::create_dir_all(env.cache_dir()).unwrap();
    std::fs::write(&old, r#"{"version":2,"entries":{},"failures":{}}"#).unwrap();
    std::fs::set_permissions(&old, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    env.get_ok(HOST);
    assert!(!old.exists(), "the old cache file is still there");
    // The Go helper's cache beside it is not ours.
    let go = env.cache_dir().join("cache.json");
    std::fs::write(&go, "{}").unwrap();
    env.backdate_cache_files(Duration::from_secs(3600));
    env.age_cache(now() - 13.0 * 3600.0, now() - 3600.0);
    env.get_ok(HOST);
    assert!(go.exists(), "the Go helper's cache was removed");
}
