//! The memo of key material: a hit that finds its files' stat identity in the memo does not read
//! or parse them. Each test here fills the memo (files settled, so the memo is trusted), checks
//! that a hit used it, then changes the files in one of the ways a stat identity must catch, and
//! checks that the changed configuration gets its own identity's token, not the memo's.
//!
//! Changes keep what they can of the old stat (size, mtime) so that only what the test names
//! differs. The same-second rewrite needs a file system with one-second timestamps (an ext4
//! image with 128-byte inodes, loop-mounted in a private mount namespace: root only), since
//! this kernel's fine-grained timestamps never give two writes the same stat.

use crate::support;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::*;

const PRIVATE: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com";
const KEY_ONE: &str = "AKIAFAKEFAKEFAKEONE1";
const KEY_TWO: &str = "AKIAFAKEFAKEFAKETWO2";
/// What a hit that took its key material from the memo says at debug level.
const MEMO_USED: &str = "key material from the memo";

fn files_env() -> TestEnv {
    let mut env = TestEnv::new();
    env.unset("AWS_ACCESS_KEY_ID")
        .unset("AWS_SECRET_ACCESS_KEY");
    env
}

fn keys(header: &str, id: &str) -> String {
    format!("{header}\naws_access_key_id = {id}\naws_secret_access_key = s-{id}\n")
}

fn credentials_file(env: &TestEnv) -> PathBuf {
    PathBuf::from(&env.vars["AWS_SHARED_CREDENTIALS_FILE"])
}

fn config_file(env: &TestEnv) -> PathBuf {
    PathBuf::from(&env.vars["AWS_CONFIG_FILE"])
}

/// The key id (its last four characters) that signed the token `get` answers with.
fn signer(env: &TestEnv) -> String {
    let answer = env.get_ok(PRIVATE);
    let secret = answer["Secret"].as_str().unwrap().to_string();
    secret.rsplit("-k").next().unwrap().to_string()
}

/// An hour ago: the mtime every file here starts with, as a real config's is.
fn an_hour_ago() -> SystemTime {
    SystemTime::now() - Duration::from_secs(3600)
}

fn set_mtime(path: &Path, mtime: SystemTime) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_times(
        std::fs::FileTimes::new()
            .set_modified(mtime)
            .set_accessed(mtime),
    )
    .unwrap();
}

fn mtime(path: &Path) -> SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

/// Writes `text` over `path` in place (same inode) and puts the old mtime back: only the
/// contents and the ctime differ afterwards.
fn rewrite_in_place(path: &Path, text: &str) {
    let old = std::fs::metadata(path).unwrap();
    assert_eq!(
        old.len(),
        text.len() as u64,
        "the rewrite must keep the size"
    );
    std::fs::write(path, text).unwrap();
    set_mtime(path, old.modified().unwrap());
    assert_eq!(std::fs::metadata(path).unwrap().ino(), old.ino());
}

/// Waits until every file's ctime is more than two seconds old (the memo trusts only files
/// whose timestamps are safely older than itself).
fn settle(paths: &[&Path]) {
    let newest = paths
        .iter()
        .map(|p| {
            let m = std::fs::metadata(p).unwrap();
            m.ctime() as f64 + m.ctime_nsec() as f64 / 1e9
        })
        .fold(0.0, f64::max);
    let limit = std::time::Instant::now() + Duration::from_secs(10);
    while now() < newest + 2.2 {
        assert!(
            std::time::Instant::now() < limit,
            "the clock does not advance"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Fills the memo for the current files (a miss, whose identity is returned, then a hit: the
/// first call finds no cache directory to write the memo in), then checks that a hit takes its
/// key material from it.
fn fill_memo(env: &TestEnv, files: &[&Path]) -> String {
    settle(files);
    let first = signer(env);
    assert_eq!(signer(env), first);
    let mut cmd = env.command(&["get"]);
    cmd.env("AWS_ECR_LOG_LEVEL", "debug");
    let out = run_bounded(cmd, PRIVATE.as_bytes(), Duration::from_secs(60));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(MEMO_USED),
        "the hit did not use the memo: {}",
        stderr(&out)
    );
    let memo = env.cache_dir().join("ecr-login-memo.json");
    let mode = std::fs::metadata(&memo).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o600, "the memo must be private");
    first
}

#[test]
fn a_rename_over_the_file_changes_the_key() {
    let env = files_env();
    let creds = credentials_file(&env);
    std::fs::write(&creds, keys("[default]", KEY_ONE)).unwrap();
    set_mtime(&creds, an_hour_ago());
    assert_eq!(fill_memo(&env, &[&creds]), "ONE1");

    // Same size, same mtime, another inode: what `aws configure` and editors do.
    let tmp = creds.with_extension("new");
    std::fs::write(&tmp, keys("[default]", KEY_TWO)).unwrap();
    set_mtime(&tmp, mtime(&creds));
    std::fs::rename(&tmp, &creds).unwrap();
    assert_eq!(signer(&env), "TWO2", "the memo's identity was served");
}

#[test]
fn an_in_place_rewrite_with_its_mtime_put_back_and_a_chmod_changes_the_key() {
    let env = files_env();
    let creds = credentials_file(&env);
    std::fs::write(&creds, keys("[default]", KEY_ONE)).unwrap();
    set_mtime(&creds, an_hour_ago());
    assert_eq!(fill_memo(&env, &[&creds]), "ONE1");

    // Same inode, size and mtime: only the ctime (and the mode) tell.
    rewrite_in_place(&creds, &keys("[default]", KEY_TWO));
    std::fs::set_permissions(&creds, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    assert_eq!(signer(&env), "TWO2", "the memo's identity was served");
}

#[test]
fn the_file_swapped_for_a_symlink_to_another_file_changes_the_key() {
    let env = files_env();
    let creds = credentials_file(&env);
    std::fs::write(&creds, keys("[default]", KEY_ONE)).unwrap();
    set_mtime(&creds, an_hour_ago());
    let other = env.home().join("other-credentials");
    std::fs::write(&other, keys("[default]", KEY_TWO)).unwrap();
    set_mtime(&other, mtime(&creds));
    assert_eq!(fill_memo(&env, &[&creds, &other]), "ONE1");

    let link = creds.with_extension("link");
    std::os::unix::fs::symlink(&other, &link).unwrap();
    std::fs::rename(&link, &creds).unwrap();
    assert_eq!(signer(&env), "TWO2", "the memo's identity was served");
}

#[test]
fn an_edit_of_a_source_profile_in_the_other_file_changes_the_key() {
    let mut env = files_env();
    env.set("AWS_PROFILE", "dev");
    let config = config_file(&env);
    let creds = credentials_file(&env);
    std::fs::write(
        &config,
        "[profile dev]\nrole_arn = arn:aws:iam::123456789012:role/dev\nsource_profile = base\n",
    )
    .unwrap();
    std::fs::write(&creds, keys("[base]", KEY_ONE)).unwrap();
    set_mtime(&config, an_hour_ago());
    set_mtime(&creds, an_hour_ago());
    fill_memo(&env, &[&config, &creds]);
    let assumed_by = |env: &TestEnv| -> Vec<String> {
        env.aws
            .calls()
            .iter()
            .filter(|c| c.service == "sts:AssumeRole")
            .map(|c| c.access_key.clone())
            .collect()
    };
    assert_eq!(assumed_by(&env), [KEY_ONE]);

    // The selected profile's own file is untouched; the profile its chain reaches changes.
    rewrite_in_place(&creds, &keys("[base]", KEY_TWO));
    env.get_ok(PRIVATE);
    assert_eq!(
        assumed_by(&env),
        [KEY_ONE, KEY_TWO],
        "the role was not assumed again with the source profile's new keys"
    );
}

#[test]
fn an_edit_of_the_sso_session_changes_the_key() {
    let mut env = files_env();
    let sso_endpoint = env.aws.url();
    env.set("AWS_PROFILE", "dev")
        .set("AWS_ENDPOINT_URL_SSO", sso_endpoint);
    let config = config_file(&env);
    let sso = |start: &str| {
        format!(
            "[profile dev]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = Developer\n\n[sso-session corp]\nsso_start_url = https://{start}.awsapps.com/start\nsso_region = us-east-1\n"
        )
    };
    std::fs::write(&config, sso("aaaa")).unwrap();
    set_mtime(&config, an_hour_ago());
    // The token `aws sso login` leaves for the session `corp` (the file is named after the
    // SHA-1 of the session name).
    let cache = env.home().join(".aws/sso/cache");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(
        cache.join("ee0bfd2552fbd840c02cc48b6e823320543c450f.json"),
        r#"{"accessToken":"fake-sso-access-token","expiresAt":"2099-01-01T00:00:00Z"}"#,
    )
    .unwrap();
    fill_memo(&env, &[&config]);
    assert_eq!(env.aws.count("sso"), 1);
    assert_eq!(env.aws.count("ecr"), 1);

    // Another Identity Center instance: the same account and role names there are another
    // identity, whatever this fake answers.
    rewrite_in_place(&config, &sso("bbbb"));
    env.get_ok(PRIVATE);
    assert_eq!(
        env.aws.count("ecr"),
        2,
        "the token of the old sso-session was served"
    );
    assert_eq!(env.aws.count("sso"), 2);
}

/// Two writes within one second on a file system with one-second timestamps leave the stat
/// as it was: only the memo's rule against racily clean files (timestamps not safely older
/// than the memo) keeps the first contents' key from serving the second.
#[test]
fn a_same_size_rewrite_within_the_same_second_changes_the_key() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || !require_tool("mkfs.ext4") || !require_tool("mount") {
        eprintln!(
            "SKIPPED: needs root, mkfs.ext4 and mount for a file system with one-second timestamps"
        );
        return;
    }
    let mut env = files_env();
    let image = env.dir.path().join("coarse.img");
    std::fs::File::create(&image)
        .unwrap()
        .set_len(8 << 20)
        .unwrap();
    let mkfs = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-I", "128"])
        .arg(&image)
        .output()
        .unwrap();
    assert!(mkfs.status.success(), "mkfs.ext4: {}", stderr(&mkfs));
    let mnt = env.dir.path().join("coarse");
    std::fs::create_dir_all(&mnt).unwrap();
    // The cache directory exists, as after any earlier call: the first `get` can write a memo.
    std::fs::create_dir_all(env.cache_dir()).unwrap();
    std::fs::set_permissions(
        env.cache_dir(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();

    // A thread of its own in a private mount namespace: the mount is seen by this thread and
    // the processes it starts, and goes away with it.
    let worker = std::thread::spawn(move || {
        // SAFETY: plain system calls on this thread; CLONE_NEWNS implies CLONE_FS, which a
        // thread may unshare on its own.
        unsafe {
            assert_eq!(libc::unshare(libc::CLONE_NEWNS), 0, "unshare");
            assert_eq!(
                libc::mount(
                    std::ptr::null(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null()
                ),
                0,
                "make / private"
            );
        }
        let mount = Command::new("mount")
            .args(["-o", "loop"])
            .arg(&image)
            .arg(&mnt)
            .output()
            .unwrap();
        assert!(mount.status.success(), "mount: {}", stderr(&mount));
        for attempt in 0..5 {
            let creds = mnt.join(format!("credentials-{attempt}"));
            env.set("AWS_SHARED_CREDENTIALS_FILE", path_str(&creds));
            // Start early in a second (not at its very beginning: file timestamps come from
            // a clock that lags by up to a tick), so both writes and the get between them fit.
            while !(100..200).contains(
                &SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .subsec_millis(),
            ) {
                std::thread::sleep(Duration::from_millis(5));
            }
            std::fs::write(&creds, keys("[default]", KEY_ONE)).unwrap();
            let before = std::fs::metadata(&creds).unwrap();
            assert_eq!(signer(&env), "ONE1");
            std::fs::write(&creds, keys("[default]", KEY_TWO)).unwrap();
            let after = std::fs::metadata(&creds).unwrap();
            let stat = |m: &std::fs::Metadata| {
                (
                    m.dev(),
                    m.ino(),
                    m.len(),
                    m.mtime(),
                    m.mtime_nsec(),
                    m.ctime(),
                    m.ctime_nsec(),
                )
            };
            if stat(&before) != stat(&after) {
                eprintln!("attempt {attempt}: the rewrite fell in the next second; again");
                continue;
            }
            assert_eq!(
                signer(&env),
                "TWO2",
                "a rewrite that left the stat as it was got the first contents' token"
            );
            return;
        }
        panic!("five attempts to rewrite a file within one second failed");
    });
    if let Err(e) = worker.join() {
        std::panic::resume_unwind(e);
    }
}
