//! Remembered failures (issue 15): on every failure path, for exactly the inputs that failed,
//! forgotten once fixed. Each test is a case an unlucky user or fleet ran into.

use crate::support;

use std::time::{Duration, Instant};
use support::*;

const PRIVATE: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com";
const ROLE: &str = "arn:aws:iam::123456789012:role/puller";

fn json_error(code: &str, message: &str) -> Reply {
    Reply::Body(
        400,
        format!(r#"{{"__type":"{code}","message":"{message}"}}"#),
    )
}

/// The remembered failures in the cache, by key.
fn failures(env: &TestEnv) -> serde_json::Map<String, serde_json::Value> {
    env.cache_json()["failures"]
        .as_object()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn after_an_iam_fix_doctor_then_get_succeed() {
    let env = TestEnv::new();
    env.aws.script([Reply::AccessDenied]);
    assert_not_found(&env.get(PRIVATE));
    // The policy is fixed: doctor checks live, and its success clears the memory.
    let doctor = env.run(&["doctor", PRIVATE], b"");
    let text = stdout(&doctor);
    assert!(
        text.contains("remembered") || text.contains("failed"),
        "doctor does not show the remembered failure:\n{text}"
    );
    let out = env.get(PRIVATE);
    assert!(
        out.status.success(),
        "the fixed problem is still refused: {}",
        stderr(&out)
    );
}

#[test]
fn the_message_names_how_to_retry_now() {
    let env = TestEnv::new();
    env.aws.always(Reply::AccessDenied);
    env.get(PRIVATE);
    let out = env.get(PRIVATE);
    assert_not_found(&out);
    let err = stderr(&out);
    assert!(err.contains("ecr-login asks AWS again"), "{err}");
    assert!(
        err.contains(&format!("doctor {PRIVATE}")),
        "no way to retry now: {err}"
    );
    assert_eq!(env.aws.count("ecr"), 1);
}

#[test]
fn an_old_failure_streak_decays() {
    let env = TestEnv::new();
    env.aws.always(Reply::Throttle);
    env.get(PRIVATE);
    // Pretend the last failure of a long streak is 50 minutes old.
    env.edit_records(|record| {
        let f = &mut record["failure"];
        f["count"] = 5.into();
        f["at"] = (now() - 3000.0).into();
    });
    env.get(PRIVATE);
    let records = failures(&env);
    assert_eq!(records.len(), 1);
    let record = records.values().next().unwrap();
    assert_eq!(
        record["count"], 1,
        "a 50-minute-old streak still counts: {record}"
    );
}

#[test]
fn a_corrected_secret_key_in_the_environment_is_tried_at_once() {
    let mut env = TestEnv::new();
    env.aws.script([json_error(
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided.",
    )]);
    env.set("AWS_SECRET_ACCESS_KEY", "a-mistyped-secret");
    assert_not_found(&env.get(PRIVATE));
    env.set("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
    let out = env.get(PRIVATE);
    assert!(
        out.status.success(),
        "the corrected secret is refused from memory: {}",
        stderr(&out)
    );
    assert_eq!(env.aws.count("ecr"), 2);
}

#[test]
fn a_credential_process_login_again_is_tried_at_once() {
    let mut env = TestEnv::new();
    env.unset("AWS_ACCESS_KEY_ID")
        .unset("AWS_SECRET_ACCESS_KEY");
    // The process prints whatever session the "login" left in a file.
    let session = env.write_file("session", "AKIAFAKEFAKEFAKEOLD1");
    let script = env.write_file(
        "cred.sh",
        &format!(
            "#!/bin/sh\nid=$(cat {})\necho \"{{\\\"Version\\\":1,\\\"AccessKeyId\\\":\\\"$id\\\",\\\"SecretAccessKey\\\":\\\"s\\\",\\\"SessionToken\\\":\\\"t-$id\\\"}}\"\n",
            session.display()
        ),
    );
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(
        env.home().join(".aws/config"),
        format!("[default]\ncredential_process = {}\n", script.display()),
    )
    .unwrap();
    env.aws.script([json_error(
        "ExpiredTokenException",
        "The security token included in the request is expired",
    )]);
    assert_not_found(&env.get(PRIVATE));
    // Again at once, with the same session: remembered, no call.
    assert_not_found(&env.get(PRIVATE));
    assert_eq!(
        env.aws.count("ecr"),
        1,
        "the same expired session asked AWS again"
    );
    // The user logs in again.
    std::fs::write(&session, "AKIAFAKEFAKEFAKENEW2").unwrap();
    let out = env.get(PRIVATE);
    assert!(
        out.status.success(),
        "the new session is refused from memory: {}",
        stderr(&out)
    );
    assert_eq!(
        env.aws.calls().last().unwrap().access_key,
        "AKIAFAKEFAKEFAKENEW2"
    );
}

#[test]
fn a_short_timeout_does_not_hold_a_patient_caller() {
    let mut env = TestEnv::new();
    env.aws.script([Reply::Hang]);
    env.set("AWS_ECR_TIMEOUT", "1");
    let out = env.get(PRIVATE);
    assert_not_found(&out);
    assert!(stderr(&out).contains("timed out"), "{}", stderr(&out));
    env.set("AWS_ECR_TIMEOUT", "20");
    let out = env.get(PRIVATE);
    assert!(
        out.status.success(),
        "a 1 s caller's timeout held a 20 s caller: {}",
        stderr(&out)
    );
}

fn role_profile_env() -> TestEnv {
    let mut env = TestEnv::new();
    env.unset("AWS_ACCESS_KEY_ID")
        .unset("AWS_SECRET_ACCESS_KEY");
    std::fs::write(
        env.home().join(".aws/config"),
        format!("[default]\nrole_arn = {ROLE}\nsource_profile = base\n\n[profile base]\n"),
    )
    .unwrap();
    std::fs::write(
        env.home().join(".aws/credentials"),
        format!("[base]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"),
    )
    .unwrap();
    env
}

#[test]
fn a_throttled_assume_role_herd_makes_bounded_calls() {
    let env = role_profile_env();
    env.aws.always(Reply::Throttle);
    let outs = env.herd(8, PRIVATE);
    for out in &outs {
        assert_not_found(out);
        let err = stderr(out);
        assert!(err.contains("throttled"), "{err}");
        assert!(!err.contains("Error {"), "a Debug dump: {err}");
    }
    let calls = env.aws.count("sts:AssumeRole");
    assert!(calls <= 3, "8 gets made {calls} AssumeRole calls");
    env.get(PRIVATE);
    assert_eq!(
        env.aws.count("sts:AssumeRole"),
        calls,
        "a 9th get asked STS again inside the backoff"
    );
}

#[test]
fn a_denied_assume_role_is_remembered() {
    let env = role_profile_env();
    env.aws.always(Reply::AccessDenied);
    for out in env.herd(8, PRIVATE) {
        assert_not_found(&out);
        assert!(stderr(&out).contains("denied"), "{}", stderr(&out));
    }
    assert_eq!(env.aws.count("sts:AssumeRole"), 1);
}

#[test]
fn a_throttled_web_identity_herd_makes_bounded_calls() {
    let mut env = TestEnv::new();
    env.unset("AWS_ACCESS_KEY_ID")
        .unset("AWS_SECRET_ACCESS_KEY");
    let token = env.write_file("token", "eyJhbGciOi.web.identity");
    env.set("AWS_WEB_IDENTITY_TOKEN_FILE", path_str(&token));
    env.set("AWS_ROLE_ARN", ROLE);
    env.aws.always(Reply::Throttle);
    for out in env.herd(8, PRIVATE) {
        assert_not_found(&out);
        assert!(stderr(&out).contains("throttled"), "{}", stderr(&out));
    }
    let calls = env.aws.count("sts:AssumeRoleWithWebIdentity");
    assert!(
        calls <= 3,
        "8 gets made {calls} AssumeRoleWithWebIdentity calls"
    );
}

#[test]
fn a_cold_list_with_aws_hung_remembers_for_the_next_list() {
    let mut env = TestEnv::new();
    env.set("AWS_REGION", "us-west-2");
    env.set("AWS_ECR_TIMEOUT", "4");
    env.aws.always(Reply::Hang);
    let out = env.run(&["list"], b"unused");
    assert!(out.status.success(), "{}", stderr(&out));
    let calls = env.aws.total();
    assert_eq!(
        failures(&env).len(),
        2,
        "list did not record both scopes' failures before its deadline"
    );
    let started = Instant::now();
    let out = env.run(&["list"], b"unused");
    assert!(out.status.success());
    assert_eq!(env.aws.total(), calls, "the second list asked AWS again");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the second list waited {:?}",
        started.elapsed()
    );
}

#[test]
fn the_kubelet_keeps_trying_through_throttling_within_its_deadline() {
    let mut env = TestEnv::new();
    // The kubelet allows a plugin 60 s.
    env.set("AWS_ECR_TIMEOUT", "55");
    // Two tries throttled (one attempt each: the plugin, not the SDK, retries), then a token.
    env.aws.script([Reply::Throttle, Reply::Throttle]);
    let out = env.run(
        &["kubelet"],
        kubelet_request(&format!("{PRIVATE}/app:1")).as_bytes(),
    );
    assert!(
        out.status.success(),
        "the kubelet plugin gave up under throttling: {}",
        stderr(&out)
    );
    assert_eq!(env.aws.count("ecr"), 3);
}

#[test]
fn failure_windows_are_jittered_across_machines() {
    // Machines throttled together must not all come back together.
    let mut windows = std::collections::BTreeSet::new();
    for _ in 0..6 {
        let env = TestEnv::new();
        env.aws.always(Reply::Throttle);
        env.get(PRIVATE);
        for (_, f) in failures(&env) {
            windows.insert(f["window"].to_string());
        }
    }
    assert!(
        windows.len() > 1,
        "every machine got the same window: {windows:?}"
    );
}

#[test]
fn container_credential_failures_are_classified_and_remembered() {
    for (status, word) in [(429, "throttled"), (500, "answered HTTP 500")] {
        let mut env = TestEnv::new();
        env.unset("AWS_ACCESS_KEY_ID")
            .unset("AWS_SECRET_ACCESS_KEY");
        env.set(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            env.aws.container_url(),
        );
        env.set("AWS_CONTAINER_AUTHORIZATION_TOKEN", "pod-a");
        env.aws.set_credential_status(Some(status));
        for out in env.herd(6, PRIVATE) {
            assert_not_found(&out);
            let err = stderr(&out);
            assert!(err.contains(word), "{status}: {err}");
            assert!(!err.contains("Non-success status"), "{status}: {err}");
        }
        let calls = env.aws.count("container");
        assert!(
            calls <= 3,
            "{status}: 6 gets made {calls} container credential calls"
        );
        env.get(PRIVATE);
        assert_eq!(
            env.aws.count("container"),
            calls,
            "{status}: asked again inside the backoff"
        );
    }
}

#[test]
fn an_unreachable_container_endpoint_is_a_network_error() {
    let mut env = TestEnv::new();
    env.unset("AWS_ACCESS_KEY_ID")
        .unset("AWS_SECRET_ACCESS_KEY");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    env.set(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        format!("http://127.0.0.1:{port}/creds"),
    );
    let out = env.get(PRIVATE);
    assert_not_found(&out);
    let err = stderr(&out);
    assert!(err.contains("network error"), "{err}");
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
}

/// An SSO profile whose cached token (as `aws sso login` leaves it) is `access_token`.
fn sso_env() -> TestEnv {
    let mut env = TestEnv::new();
    env.unset("AWS_ACCESS_KEY_ID")
        .unset("AWS_SECRET_ACCESS_KEY");
    env.set("AWS_ENDPOINT_URL_SSO", env.aws.url());
    std::fs::write(
        env.home().join(".aws/config"),
        "[default]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = Puller\nregion = us-west-2\n\n[sso-session corp]\nsso_start_url = https://example.awsapps.com/start\nsso_region = us-west-2\n",
    )
    .unwrap();
    sso_login(&env, "first-session-token");
    env
}

/// What `aws sso login` does: (re)writes the token cache file, named by the SHA-1 of the
/// session name.
fn sso_login(env: &TestEnv, access_token: &str) {
    let out = std::process::Command::new("sh")
        .args(["-c", "printf %s corp | sha1sum"])
        .output()
        .expect("sha1sum");
    let hash = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let dir = env.home().join(".aws/sso/cache");
    std::fs::create_dir_all(&dir).unwrap();
    let tmp = dir.join("login.tmp");
    std::fs::write(
        &tmp,
        format!(
            r#"{{"startUrl":"https://example.awsapps.com/start","region":"us-west-2","accessToken":"{access_token}","expiresAt":"2099-01-01T00:00:00Z"}}"#
        ),
    )
    .unwrap();
    std::fs::rename(&tmp, dir.join(format!("{hash}.json"))).unwrap();
}

#[test]
fn an_sso_login_again_is_tried_at_once() {
    let env = sso_env();
    // The portal no longer accepts the session.
    env.aws.script([Reply::AccessDenied]);
    let out = env.get(PRIVATE);
    assert_not_found(&out);
    assert!(stderr(&out).contains("denied"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("aws sso login --profile default"),
        "{}",
        stderr(&out)
    );
    assert_not_found(&env.get(PRIVATE));
    assert_eq!(
        env.aws.count("sso"),
        1,
        "the refused session asked the portal again"
    );
    sso_login(&env, "second-session-token");
    let out = env.get(PRIVATE);
    assert!(
        out.status.success(),
        "the new SSO session is refused from memory: {}",
        stderr(&out)
    );
    assert_eq!(env.aws.count("sso"), 2);
}

#[test]
fn a_throttled_sso_portal_herd_makes_bounded_calls() {
    let env = sso_env();
    env.aws.always(Reply::Throttle);
    for out in env.herd(6, PRIVATE) {
        assert_not_found(&out);
        assert!(stderr(&out).contains("throttled"), "{}", stderr(&out));
    }
    let calls = env.aws.count("sso");
    assert!(calls <= 3, "6 gets made {calls} GetRoleCredentials calls");
}
