//! The cache cannot be turned against its user (modes, ownership, planted files and symlinks),
//! and no secret reaches stderr, a log file, a panic or `Debug` output.

use crate::support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Output;
use std::time::Duration;
use support::*;

const PRIVATE: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com";
/// A uid that owns nothing on the machine: "someone else".
const OTHER_UID: u32 = 4242;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().mode() & 0o777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn chown(path: &Path, uid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid)).unwrap();
}

/// The cache record as it is now, with its password replaced by `password`: what an
/// attacker would plant to have their token served.
fn planted_cache(env: &TestEnv, password: &str) -> String {
    let text = std::fs::read_to_string(env.cache_file()).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["entry"]["password"] = password.into();
    v.to_string()
}

fn secret_of(out: &Output) -> String {
    assert!(out.status.success(), "{}", stderr(out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["Secret"].as_str().unwrap().to_string()
}

#[test]
fn cache_dir_and_files_are_private_even_under_a_permissive_umask() {
    let env = TestEnv::new();
    let mut cmd = env.command(&["get"]);
    // SAFETY: umask is async-signal-safe and touches only the child.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            libc::umask(0);
            Ok(())
        });
    }
    let out = run_bounded(cmd, PRIVATE.as_bytes(), Duration::from_secs(60));
    secret_of(&out);
    assert_eq!(mode(&env.cache_dir()), 0o700);
    let all = paths_under(&env.cache_dir());
    assert!(all.len() >= 4, "{all:?}");
    for path in all {
        let want = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(&path), want, "{}", path.display());
    }
}

#[test]
fn a_writable_by_others_cache_file_is_not_trusted() {
    for bad_mode in [0o620, 0o602, 0o666] {
        let env = TestEnv::new();
        env.get_ok(PRIVATE);
        std::fs::write(env.cache_file(), planted_cache(&env, "planted-password")).unwrap();
        chmod(&env.cache_file(), bad_mode);
        let out = env.get(PRIVATE);
        assert_ne!(secret_of(&out), "planted-password", "mode {bad_mode:o}");
        assert!(
            stderr(&out).contains("writable by group or others"),
            "mode {bad_mode:o}: {}",
            stderr(&out)
        );
        assert_eq!(env.aws.count("ecr"), 2, "mode {bad_mode:o}");
        // Rewritten as ours, and trusted again.
        assert_eq!(mode(&env.cache_file()), 0o600);
        env.get_ok(PRIVATE);
        assert_eq!(env.aws.count("ecr"), 2);
    }
}

#[test]
fn a_readable_by_others_cache_file_is_not_used() {
    for bad_mode in [0o640, 0o604] {
        let env = TestEnv::new();
        env.get_ok(PRIVATE);
        chmod(&env.cache_file(), bad_mode);
        let out = env.get(PRIVATE);
        assert!(out.status.success());
        assert!(
            stderr(&out).contains("readable by group or others"),
            "mode {bad_mode:o}: {}",
            stderr(&out)
        );
        assert_eq!(env.aws.count("ecr"), 2, "mode {bad_mode:o}");
        assert_eq!(mode(&env.cache_file()), 0o600);
    }
}

#[test]
fn a_cache_file_owned_by_someone_else_is_not_trusted() {
    if !is_root() {
        eprintln!("SKIPPED: chown to another uid needs root");
        return;
    }
    let env = TestEnv::new();
    env.get_ok(PRIVATE);
    std::fs::write(env.cache_file(), planted_cache(&env, "planted-password")).unwrap();
    chown(&env.cache_file(), OTHER_UID);
    let out = env.get(PRIVATE);
    assert_ne!(secret_of(&out), "planted-password");
    assert!(
        stderr(&out).contains(&format!("owned by uid {OTHER_UID}")),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.aws.count("ecr"), 2);
    assert_eq!(std::fs::metadata(env.cache_file()).unwrap().uid(), 0);
}

#[test]
fn a_cache_dir_that_is_not_ours_is_not_written() {
    let mut cases = vec![("group-writable", 0o770, None)];
    if is_root() {
        cases.push(("owned by someone else", 0o700, Some(OTHER_UID)));
    } else {
        eprintln!("SKIPPED (in part): chown to another uid needs root");
    }
    for (name, dir_mode, owner) in cases {
        let env = TestEnv::new();
        std::fs::create_dir_all(env.cache_dir()).unwrap();
        chmod(&env.cache_dir(), dir_mode);
        if let Some(uid) = owner {
            chown(&env.cache_dir(), uid);
        }
        let out = env.get(PRIVATE);
        secret_of(&out);
        assert!(
            stderr(&out).contains("cannot use the cache directory"),
            "{name}: {}",
            stderr(&out)
        );
        assert_eq!(
            std::fs::read_dir(env.cache_dir()).unwrap().count(),
            0,
            "{name}: wrote into it"
        );
    }
}

#[test]
fn a_symlink_at_the_cache_path_is_not_followed() {
    let env = TestEnv::new();
    env.get_ok(PRIVATE);
    // Someone else's file, holding a cache with a token we must not serve.
    let victim = env.dir.path().join("victim.json");
    let planted = planted_cache(&env, "planted-password");
    std::fs::write(&victim, &planted).unwrap();
    chmod(&victim, 0o600);
    let record = env.cache_file();
    std::fs::remove_file(&record).unwrap();
    std::os::unix::fs::symlink(&victim, &record).unwrap();

    let out = env.get(PRIVATE);
    assert_ne!(secret_of(&out), "planted-password", "followed the link");
    assert_eq!(env.aws.count("ecr"), 2);
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        planted,
        "wrote through the link"
    );
    assert!(std::fs::symlink_metadata(&record).unwrap().is_file());
}

#[test]
fn symlinks_at_the_lock_paths_are_not_followed() {
    let env = TestEnv::new();
    env.get_ok(PRIVATE);
    let names: Vec<_> = std::fs::read_dir(env.records_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().ends_with(".lock"))
        .collect();
    assert!(names.len() >= 2, "{names:?}");
    let victim = env.dir.path().join("victim");
    std::fs::write(&victim, "someone else's data").unwrap();
    chmod(&victim, 0o644);
    for entry in std::fs::read_dir(env.records_dir()).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    for name in &names {
        std::os::unix::fs::symlink(&victim, env.records_dir().join(name)).unwrap();
    }
    let out = env.get(PRIVATE);
    secret_of(&out);
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "someone else's data"
    );
    assert_eq!(mode(&victim), 0o644);
    for name in &names {
        assert!(
            std::fs::symlink_metadata(env.records_dir().join(name))
                .unwrap()
                .is_symlink()
        );
    }
}

/// Every secret a scenario used, and everything the helper printed outside its answers.
#[derive(Default)]
struct Transcript {
    text: String,
    runs: usize,
}

impl Transcript {
    /// Runs the helper, keeping stderr always, stdout when it is not a credential answer, and
    /// the log file when one is set.
    fn run(&mut self, env: &TestEnv, args: &[&str], stdin: &[u8]) -> Output {
        let out = env.run(args, stdin);
        self.runs += 1;
        self.text.push_str(&stderr(&out));
        let is_answer = args == ["get"] && out.status.success();
        if !is_answer {
            self.text.push_str(&stdout(&out));
        }
        if let Some(log) = env.vars.get("AWS_ECR_LOG_FILE") {
            self.text
                .push_str(&std::fs::read_to_string(log).unwrap_or_default());
        }
        out
    }
}

const ECR_PASSWORD: &str = "ecr-password-do-not-print";
const SESSION_TOKEN: &str = "session-token-do-not-print";
const PROFILE_SECRET: &str = "profile-secret-do-not-print";
const WEB_IDENTITY_TOKEN: &str = "web-identity-jwt-do-not-print";
const TYPED_PASSWORD: &str = "typed-into-a-url-do-not-print";

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// One TestEnv per scenario, logging at trace level, every other one into a log file.
fn traced_env(n: usize) -> TestEnv {
    let mut env = TestEnv::new();
    env.aws.set_password(ECR_PASSWORD);
    env.set("AWS_ECR_LOG_LEVEL", "trace");
    env.set("AWS_SESSION_TOKEN", SESSION_TOKEN);
    if n % 2 == 1 {
        let log = path_str(&env.dir.path().join("helper.log"));
        env.set("AWS_ECR_LOG_FILE", log);
    }
    env
}

#[test]
fn no_secret_reaches_stderr_or_logs_in_any_scenario() {
    let mut t = Transcript::default();
    let mut n = 0;
    let mut next = || {
        n += 1;
        traced_env(n)
    };

    // Success, hits, every server-URL form, list, and the cache file itself.
    let env = next();
    for url in [
        PRIVATE.to_string(),
        format!("{PRIVATE}:443"),
        format!("https://{PRIVATE}/v2/"),
        "public.ecr.aws".into(),
        "123456789012.dkr-ecr.us-west-2.on.aws".into(),
    ] {
        let out = t.run(&env, &["get"], url.as_bytes());
        assert_eq!(secret_of(&out), ECR_PASSWORD);
    }
    t.run(&env, &["list"], b"unused");
    let cache: String = env
        .record_files()
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    assert!(!cache.is_empty());
    for credential in [SECRET_KEY, SESSION_TOKEN, ACCESS_KEY] {
        assert!(
            !cache.contains(credential),
            "AWS credentials in the cache file"
        );
    }

    // A refresh that fails and serves the cached token, with a warning.
    env.make_due();
    env.aws.always(Reply::AccessDenied);
    secret_of(&t.run(&env, &["get"], PRIVATE.as_bytes()));

    // Every kind of failure.
    for reply in [
        Reply::AccessDenied,
        Reply::Throttle,
        Reply::ServerError,
        Reply::RawToken(b64(ECR_PASSWORD)),
        Reply::RawToken(ECR_PASSWORD.into()),
        Reply::RawToken(b64(&format!("AWS:{ECR_PASSWORD}\u{0}"))[1..].to_string()),
        Reply::Body(
            200,
            format!(
                r#"{{"authorizationData":[{{"authorizationToken":"{}","expiresAt":"tomorrow"}}]}}"#,
                b64(&format!("AWS:{ECR_PASSWORD}"))
            ),
        ),
        Reply::Body(
            200,
            format!(
                r#"{{"authorizationData":[{{"authorizationToken":"{}"}}]}}"#,
                b64(&format!("AWS:{ECR_PASSWORD}"))
            ),
        ),
        Reply::Body(200, format!("AWS:{ECR_PASSWORD} <not json>")),
    ] {
        let env = next();
        env.aws.always(reply);
        assert_not_found(&t.run(&env, &["get"], PRIVATE.as_bytes()));
    }
    let mut env = next();
    env.set("AWS_ECR_TIMEOUT", "1");
    env.aws.always(Reply::Hang);
    assert_not_found(&t.run(&env, &["get"], PRIVATE.as_bytes()));
    let mut env = next();
    env.set("AWS_ENDPOINT_URL_ECR", "http://127.0.0.1:9");
    assert_not_found(&t.run(&env, &["get"], PRIVATE.as_bytes()));

    // A role assumed from a profile whose keys are in the credentials file, then a failure
    // with the assumed credentials.
    for denied in [false, true] {
        let mut env = next();
        env.unset("AWS_ACCESS_KEY_ID")
            .unset("AWS_SECRET_ACCESS_KEY")
            .unset("AWS_SESSION_TOKEN");
        env.write_file(
            "home/.aws/config",
            "[profile dev]\nrole_arn = arn:aws:iam::123456789012:role/dev\nsource_profile = base\nregion = us-west-2\n",
        );
        env.write_file(
            "home/.aws/credentials",
            &format!("[base]\naws_access_key_id = AKIABASEBASEBASE0001\naws_secret_access_key = {PROFILE_SECRET}\n"),
        );
        env.set("AWS_PROFILE", "dev");
        if denied {
            env.aws.script([Reply::Token, Reply::AccessDenied]);
        }
        let out = t.run(&env, &["get"], PRIVATE.as_bytes());
        assert_eq!(env.aws.count("sts:AssumeRole"), 1, "{}", stderr(&out));
        if denied {
            assert_not_found(&out);
        } else {
            assert_eq!(secret_of(&out), ECR_PASSWORD);
        }
    }

    // Web identity (IRSA): the token file's content is a secret too.
    for denied in [false, true] {
        let mut env = next();
        env.unset("AWS_ACCESS_KEY_ID")
            .unset("AWS_SECRET_ACCESS_KEY")
            .unset("AWS_SESSION_TOKEN");
        let token_file = env.write_file("web-identity-token", WEB_IDENTITY_TOKEN);
        env.set("AWS_WEB_IDENTITY_TOKEN_FILE", path_str(&token_file));
        env.set("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/irsa");
        if denied {
            env.aws.script([Reply::AccessDenied]);
        }
        let out = t.run(&env, &["get"], PRIVATE.as_bytes());
        assert!(
            env.aws.count("sts:AssumeRoleWithWebIdentity") >= 1,
            "{}",
            stderr(&out)
        );
        if !denied {
            assert_eq!(secret_of(&out), ECR_PASSWORD);
        }
    }

    // Secrets typed into the input: a password in a server URL, and a store request.
    let env = next();
    for input in [
        format!("https://AWS:{TYPED_PASSWORD}@{PRIVATE}"),
        format!("https://{TYPED_PASSWORD}@evil.example.com"),
        format!("{TYPED_PASSWORD}:x@{PRIVATE}/v2/"),
    ] {
        assert_not_found(&t.run(&env, &["get"], input.as_bytes()));
    }
    for input in [
        format!(r#"{{"ServerURL":"{PRIVATE}","Username":"AWS","Secret":"{TYPED_PASSWORD}"}}"#),
        format!(r#"{{"ServerURL":"{PRIVATE}","Username":"AWS","Secret":"{TYPED_PASSWORD}""#),
        format!(r#"{{"Secret":"{TYPED_PASSWORD}" x}}"#),
    ] {
        t.run(&env, &["store"], input.as_bytes());
    }
    assert_eq!(env.aws.total(), 0);

    let secrets = [
        ECR_PASSWORD.to_string(),
        b64(&format!("AWS:{ECR_PASSWORD}")),
        SECRET_KEY.to_string(),
        SESSION_TOKEN.to_string(),
        PROFILE_SECRET.to_string(),
        WEB_IDENTITY_TOKEN.to_string(),
        TYPED_PASSWORD.to_string(),
        // What the fake's STS hands out: `sts-secret-<n>` and `sts-session-<n>`.
        "sts-secret-".to_string(),
        "sts-session-".to_string(),
    ];
    assert!(t.text.contains("debug"), "trace logging produced nothing");
    for secret in &secrets {
        if let Some(at) = t.text.find(secret.as_str()) {
            let context: String = t.text[at.saturating_sub(120)..at].chars().collect();
            panic!("a secret was printed, after: {context:?}");
        }
    }
    assert!(!t.text.contains("panicked"));
    eprintln!(
        "secrets check: {} helper runs, {} bytes of stderr and logs, {} secrets, none found",
        t.runs,
        t.text.len(),
        secrets.len()
    );
}
