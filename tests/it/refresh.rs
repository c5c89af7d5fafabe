//! Never stuck (issue 16): tokens refreshed out of band, and locks whose holders stall, however
//! they stall, taken over.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::*;

const PRIVATE: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com";
const HOUR: f64 = 3600.0;

#[test]
fn slow_aws_near_a_tokens_half_life_is_refreshed_in_the_background() {
    let env = TestEnv::new();
    let first = env.get_ok(PRIVATE);
    env.make_due();
    // Slower than the 3 s an inline refresh may take.
    env.aws.set_delay(Duration::from_millis(3500));
    let out = env.get(PRIVATE);
    assert!(out.status.success(), "{}", stderr(&out));
    let served: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        served["Secret"], first["Secret"],
        "the due token was not served"
    );
    assert!(
        !stderr(&out).contains("refreshing the token failed"),
        "the get waited on the refresh: {}",
        stderr(&out)
    );
    // The refresh was not thrown away: the slow answer lands in the cache.
    env.wait_for_refresh(&first["Secret"]);
    env.aws.set_delay(Duration::ZERO);
    let next = env.get_ok(PRIVATE);
    assert_ne!(next["Secret"], first["Secret"]);
    assert_eq!(
        env.aws.count("ecr"),
        2,
        "a refresh was abandoned and redone"
    );
}

#[test]
fn across_a_day_only_the_first_get_waits() {
    let env = TestEnv::new();
    env.aws.set_delay(Duration::from_secs(2));
    let mut current = env.get_ok(PRIVATE)["Secret"].clone();
    let start = now();
    for hour in 1..=14 {
        // The cached token is `age` hours old (it was issued at the last refresh).
        let age = f64::from(hour % 7 + 1);
        env.age_cache(start - age * HOUR, start - age * HOUR + 12.0 * HOUR);
        let out = env.get(PRIVATE);
        assert!(out.status.success(), "hour {hour}: {}", stderr(&out));
        let served: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            served["Secret"], current,
            "hour {hour}: the get waited for AWS instead of serving the cached token"
        );
        if age >= 6.0 {
            env.wait_for_refresh(&current);
            current = serde_json::Value::from(env.cached_secrets()[0].clone());
        }
    }
}

/// A cgroup (v1 freezer or v2) that freezes the processes put in it, thawed and removed when
/// dropped. `None` where this machine has neither.
struct Freezer {
    dir: PathBuf,
    v1: bool,
}

impl Freezer {
    fn new() -> Option<Freezer> {
        let name = format!("ecr-login-test-{}-{}", std::process::id(), now() as u64);
        for (root, v1) in [
            ("/sys/fs/cgroup/freezer", true),
            ("/sys/fs/cgroup/unified", false),
            ("/sys/fs/cgroup", false),
        ] {
            let marker = if v1 { "freezer.state" } else { "cgroup.freeze" };
            let dir = Path::new(root).join(&name);
            if std::fs::create_dir(&dir).is_ok() {
                if dir.join(marker).exists() {
                    return Some(Freezer { dir, v1 });
                }
                let _ = std::fs::remove_dir(&dir);
            }
        }
        None
    }

    fn freeze(&self, pid: u32) {
        // `cgroup.procs` moves every thread of the process (v1's `tasks` would move one).
        std::fs::write(self.dir.join("cgroup.procs"), pid.to_string()).unwrap();
        self.set(true);
    }

    fn set(&self, frozen: bool) {
        if self.v1 {
            let state = if frozen { "FROZEN" } else { "THAWED" };
            std::fs::write(self.dir.join("freezer.state"), state).unwrap();
        } else {
            std::fs::write(
                self.dir.join("cgroup.freeze"),
                if frozen { "1" } else { "0" },
            )
            .unwrap();
        }
    }
}

impl Drop for Freezer {
    fn drop(&mut self) {
        self.set(false);
        // The killed process leaves the group shortly after it is thawed.
        for _ in 0..100 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn a_frozen_refresher_does_not_hold_a_cold_get() {
    let Some(freezer) = Freezer::new() else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("no cgroup freezer on this machine");
        }
        eprintln!("SKIPPED: no cgroup freezer");
        return;
    };
    let mut env = TestEnv::new();
    env.set("AWS_ECR_TIMEOUT", "25");
    env.aws.script([Reply::Hang]);
    let mut frozen: Child = env.spawn_get(PRIVATE);
    env.aws.wait_for_calls(1, Duration::from_secs(30));
    freezer.freeze(frozen.id());
    // Generous bound, well under the 25 s the old holder check waited (it took the frozen
    // process's state, D, for running).
    let out = run_bounded(
        env.command(&["get"]),
        PRIVATE.as_bytes(),
        Duration::from_secs(15),
    );
    let _ = frozen.kill();
    drop(freezer);
    let _ = frozen.wait();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("no progress"), "{}", stderr(&out));
}

/// `flock(1)` holding `path` in a stopped process: a cache writer stopped with Ctrl-Z, or
/// stuck in fsync on a hung mount.
fn stopped_holder(path: &Path) -> Child {
    let child = Command::new("flock")
        .arg(path)
        .args(["sleep", "60"])
        .stdin(Stdio::null())
        .spawn()
        .expect("flock (util-linux)");
    wait_until(Duration::from_secs(10), "flock to take the lock", || {
        std::fs::File::open(path).is_ok_and(|f| f.try_lock().is_err())
    });
    // SAFETY: a plain signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGSTOP) };
    child
}

#[test]
fn a_stopped_cache_writer_does_not_hold_every_miss() {
    let mut env = TestEnv::new();
    env.set("AWS_ECR_TIMEOUT", "25");
    for dir in [env.cache_dir(), env.records_dir()] {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
    }
    let mut holder = stopped_holder(&env.records_dir().join("write.lock"));
    let out = run_bounded(
        env.command(&["get"]),
        PRIVATE.as_bytes(),
        Duration::from_secs(15),
    );
    // SAFETY: as above.
    unsafe { libc::kill(holder.id() as i32, libc::SIGCONT) };
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        env.cached_secrets().len(),
        1,
        "the token was not cached past the stopped writer"
    );
    // And the next get is a hit.
    env.get_ok(PRIVATE);
    assert_eq!(env.aws.count("ecr"), 1);
}
