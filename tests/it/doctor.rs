//! `doctor`: each check against the fake AWS endpoint, the exit code, and the JSON report.

use crate::support;

use serde_json::Value;
use support::*;

const HOST: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com";
const PASSWORD: &str = "doctor-password-never-printed";

fn doctor_json(env: &TestEnv, args: &[&str]) -> (Option<i32>, Value, String) {
    let mut all = vec!["doctor", "--json"];
    all.extend_from_slice(args);
    let out = env.run(&all, b"");
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {} / {}", stdout(&out), stderr(&out)));
    (out.status.code(), v, stderr(&out))
}

fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no {id} check in {report:#}"))
}

fn route_to_helper(env: &TestEnv) {
    route_host_to_helper(env, HOST);
}

fn route_host_to_helper(env: &TestEnv, host: &str) {
    env.write_file(
        "home/.docker/config.json",
        &format!("{{\"credHelpers\": {{\"{host}\": \"ecr-login\"}}}}"),
    );
}

/// Docker routes `host` to the helper and PATH finds it: the client checks pass, so the exit
/// code is down to the checks a test is about.
fn healthy_clients(env: &mut TestEnv, host: &str) {
    route_host_to_helper(env, host);
    let bin_dir = support::bin().parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), env.vars["PATH"]);
    env.set("PATH", path);
}

fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting {prefix:?} in:\n{text}"))
}

#[test]
fn a_healthy_setup_passes_every_check() {
    let mut env = TestEnv::new();
    env.aws.set_password(PASSWORD);
    route_to_helper(&env);
    let bin_dir = support::bin().parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), env.vars["PATH"]);
    env.set("PATH", path);
    env.get_ok(HOST);

    let (code, report, err) = doctor_json(&env, &[HOST]);
    assert_eq!(code, Some(0), "{report:#} {err}");
    assert_eq!(report["schema"], 1);
    assert_eq!(report["ok"], true);
    assert_eq!(report["host"], HOST);
    let ids: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "host",
            "registry_config",
            "credentials",
            "caller_identity",
            "docker_config",
            "podman_config",
            "helper_on_path",
            "cache",
            "token"
        ]
    );
    for id in [
        "host",
        "registry_config",
        "credentials",
        "caller_identity",
        "docker_config",
        "cache",
        "token",
    ] {
        assert_eq!(check(&report, id)["status"], "pass", "{id}: {report:#}");
    }
    let host = &check(&report, "host")["details"];
    assert_eq!(host["account"], "123456789012");
    assert_eq!(host["region"], "us-west-2");
    assert_eq!(host["partition"], "aws");
    assert_eq!(host["endpoint"], env.aws.url());
    assert_eq!(
        check(&report, "credentials")["details"]["source"],
        "environment"
    );
    assert_eq!(
        check(&report, "caller_identity")["details"]["arn"],
        "arn:aws:iam::123456789012:user/fake"
    );
    assert_eq!(check(&report, "cache")["details"]["state"], "fresh");
    assert_eq!(check(&report, "token")["details"]["username"], "AWS");
    // The live checks went to the fake: one STS call, one more token call.
    assert_eq!(env.aws.count("sts:GetCallerIdentity"), 1);
    assert_eq!(env.aws.count("ecr"), 2);

    let text = report.to_string() + &err;
    for secret in [PASSWORD, SECRET_KEY, ACCESS_KEY] {
        assert!(!text.contains(secret), "{secret} printed");
    }
}

#[test]
fn the_text_report_has_a_line_per_check_and_fixes() {
    let env = TestEnv::new();
    env.aws.set_password(PASSWORD);
    let out = env.run(&["doctor", HOST], b"");
    let text = stdout(&out);
    // A token can be had, but Docker does not ask for it: a failed check, exit 1.
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("ok    host"), "{text}");
    assert!(text.contains("ok    token"), "{text}");
    assert!(text.contains("FAIL  docker_config"), "{text}");
    assert!(
        text.contains(&format!(
            "fix: docker-credential-ecr-login configure --registry {HOST}"
        )),
        "{text}"
    );
    assert!(!text.contains(PASSWORD) && !stderr(&out).contains(PASSWORD));
}

#[test]
fn access_denied_fails_with_the_iam_fix() {
    let env = TestEnv::new();
    // GetCallerIdentity succeeds, GetAuthorizationToken is denied.
    env.aws.script([Reply::Token]);
    env.aws.always(Reply::AccessDenied);
    let (code, report, _) = doctor_json(&env, &[HOST]);
    assert_eq!(code, Some(1));
    assert_eq!(report["ok"], false);
    let token = check(&report, "token");
    assert_eq!(token["status"], "fail");
    assert!(
        token["message"].as_str().unwrap().contains("access denied"),
        "{token}"
    );
    let fix = token["fix"].as_str().unwrap();
    assert!(
        fix.contains("ecr:GetAuthorizationToken")
            && fix.contains("arn:aws:iam::123456789012:user/fake"),
        "{fix}"
    );
}

#[test]
fn no_credentials_fails_early() {
    let mut env = TestEnv::new();
    env.unset("AWS_ACCESS_KEY_ID")
        .unset("AWS_SECRET_ACCESS_KEY");
    let (code, report, _) = doctor_json(&env, &[HOST]);
    assert_eq!(code, Some(1));
    let creds = check(&report, "credentials");
    assert_eq!(creds["status"], "fail");
    assert_eq!(creds["details"]["source"], "none");
    assert!(creds["fix"].as_str().unwrap().contains("AWS_PROFILE"));
    assert_eq!(check(&report, "caller_identity")["status"], "skip");
    assert_eq!(check(&report, "token")["status"], "fail");
    assert_eq!(env.aws.total(), 0);
}

#[test]
fn profile_kinds_are_named() {
    let mut env = TestEnv::new();
    healthy_clients(&mut env, HOST);
    env.unset("AWS_ACCESS_KEY_ID")
        .unset("AWS_SECRET_ACCESS_KEY");
    env.write_file(
        "home/.aws/credentials",
        "[base]\naws_access_key_id = AKIABASEBASEBASE0001\naws_secret_access_key = basesecret\n",
    );
    env.write_file(
        "home/.aws/config",
        "[profile ci]\nrole_arn = arn:aws:iam::123456789012:role/ci\nsource_profile = base\n",
    );
    env.set("AWS_PROFILE", "ci");
    let (code, report, err) = doctor_json(&env, &[HOST]);
    assert_eq!(code, Some(0), "{report:#} {err}");
    let creds = check(&report, "credentials");
    assert_eq!(creds["details"]["source"], "profile");
    assert_eq!(creds["details"]["profile"], "ci");
    assert_eq!(creds["details"]["profile_kind"], "assume-role");
    assert!(
        creds["message"]
            .as_str()
            .unwrap()
            .contains("arn:aws:iam::123456789012:role/ci"),
        "{creds}"
    );
    assert!(env.aws.count("sts:AssumeRole") >= 1);
}

#[test]
fn hosts_that_are_not_ecr_fail_with_the_fix() {
    let env = TestEnv::new();
    let (code, report, _) = doctor_json(&env, &["docker.io"]);
    assert_eq!(code, Some(1));
    let host = check(&report, "host");
    assert_eq!(host["status"], "fail");
    assert!(host["fix"].as_str().unwrap().contains("[[alias]]"));
}

#[test]
fn aliases_and_mappings_are_shown() {
    let mut env = TestEnv::new();
    healthy_clients(&mut env, "registry.example.com");
    env.write_file(
        "home/.ecr/config.toml",
        &format!(
            "[[alias]]\nhost = \"registry.example.com\"\nregistry = \"{HOST}\"\n\n[[registry]]\nhost = \"{HOST}\"\nrole_arn = \"arn:aws:iam::123456789012:role/pull\"\n"
        ),
    );
    let (code, report, err) = doctor_json(&env, &["registry.example.com"]);
    assert_eq!(code, Some(0), "{report:#} {err}");
    let host = check(&report, "host");
    assert_eq!(host["details"]["registry"], HOST);
    assert_eq!(host["details"]["alias_line"], "1");
    let config = check(&report, "registry_config");
    assert_eq!(config["details"]["mapping_line"], "5");
    assert!(
        config["message"]
            .as_str()
            .unwrap()
            .contains("role arn:aws:iam::123456789012:role/pull")
    );
    assert!(env.aws.count("sts:AssumeRole") >= 1);
}

#[test]
fn a_broken_registry_config_fails() {
    let env = TestEnv::new();
    env.write_file("home/.ecr/config.toml", "[[registry]]\nhots = 1\n");
    let (code, report, _) = doctor_json(&env, &[HOST]);
    assert_eq!(code, Some(1));
    let config = check(&report, "registry_config");
    assert_eq!(config["status"], "fail");
    assert!(
        config["message"].as_str().unwrap().contains(":2:"),
        "{config}"
    );
}

#[test]
fn without_a_host_it_checks_the_credentials() {
    let mut env = TestEnv::new();
    healthy_clients(&mut env, HOST);
    let (code, report, _) = doctor_json(&env, &[]);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["host"], Value::Null);
    assert_eq!(check(&report, "credentials")["status"], "pass");
    assert_eq!(check(&report, "caller_identity")["status"], "pass");
    assert_eq!(env.aws.count("ecr"), 0);
}

/// An endpoint that accepts and never answers: each live check is blamed for its own hang, the
/// checks that finished are kept, and the whole run stays within the limit.
#[test]
fn a_silent_endpoint_is_blamed_on_the_step_that_hung() {
    let mut env = TestEnv::new();
    let (url, _listener) = silent_endpoint();
    env.set("AWS_ENDPOINT_URL_ECR", url.clone())
        .set("AWS_ENDPOINT_URL_STS", url.clone())
        .set("AWS_ECR_TIMEOUT", "3");
    let started = std::time::Instant::now();
    let out = env.run(&["doctor", HOST], b"");
    let elapsed = started.elapsed();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(line(&text, "ok    host").contains(&url), "{text}");
    assert!(
        line(&text, "ok    credentials").contains("environment variables"),
        "{text}"
    );
    let caller = line(&text, "FAIL  caller_identity");
    assert!(
        caller.contains("GetCallerIdentity") && caller.contains("did not answer within"),
        "{text}"
    );
    let token = line(&text, "FAIL  token");
    assert!(
        token.contains("GetAuthorizationToken")
            && token.contains(&url)
            && token.contains("did not answer within"),
        "{text}"
    );
    for l in text.lines() {
        assert!(
            l.matches("AWS_ECR_TIMEOUT").count() <= 1,
            "the limit named twice: {l}"
        );
    }
    assert!(!text.contains("running the checks"), "{text}");
    assert!(elapsed < std::time::Duration::from_secs(30), "{elapsed:?}");
}

/// A `credential_process` whose credentials expired long ago: resolved, but flagged, with
/// when and how to renew.
#[test]
fn expired_process_credentials_are_flagged() {
    let mut env = TestEnv::new();
    healthy_clients(&mut env, HOST);
    env.unset("AWS_ACCESS_KEY_ID")
        .unset("AWS_SECRET_ACCESS_KEY");
    let creds = env.write_file(
        "creds.json",
        r#"{"Version":1,"AccessKeyId":"ASIAEXPIREDEXPIRED1","SecretAccessKey":"expired-secret","SessionToken":"expired-session","Expiration":"2020-01-01T00:00:00Z"}"#,
    );
    env.write_file(
        "home/.aws/config",
        &format!(
            "[profile proc]\ncredential_process = cat {}\n",
            creds.display()
        ),
    );
    env.set("AWS_PROFILE", "proc");
    let (code, report, err) = doctor_json(&env, &[HOST]);
    assert_eq!(code, Some(1), "{report:#} {err}");
    assert_eq!(report["ok"], false);
    let creds = check(&report, "credentials");
    assert_eq!(creds["status"], "fail", "{creds}");
    let message = creds["message"].as_str().unwrap();
    assert!(
        message.contains("expired") && message.contains("2020-01-01"),
        "{creds}"
    );
    assert!(
        creds["fix"]
            .as_str()
            .unwrap()
            .contains("credential_process"),
        "{creds}"
    );
    assert!(!report.to_string().contains("expired-secret"));
}

/// STS unreachable while ECR answers: a network problem, not rejected credentials, and only a
/// warning beside a working token.
#[test]
fn sts_unreachable_beside_a_working_token_is_a_network_warning() {
    let mut env = TestEnv::new();
    healthy_clients(&mut env, HOST);
    let refused = refused_url();
    env.set("AWS_ENDPOINT_URL_STS", refused.clone());
    let (code, report, err) = doctor_json(&env, &[HOST]);
    let caller = check(&report, "caller_identity");
    assert_eq!(caller["status"], "warn", "{report:#} {err}");
    let message = caller["message"].as_str().unwrap();
    assert!(
        message.contains("could not reach STS") && message.contains(&refused),
        "{caller}"
    );
    let fix = caller["fix"].as_str().unwrap();
    assert!(fix.contains("AWS_ENDPOINT_URL_STS"), "{fix}");
    assert!(!fix.contains("does not accept"), "{fix}");
    assert_eq!(check(&report, "token")["status"], "pass");
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["ok"], true);
}

/// Without a token to stand beside, STS unreachable is a failure, and any failure exits 1.
#[test]
fn any_failed_check_fails_the_exit_code() {
    let mut env = TestEnv::new();
    healthy_clients(&mut env, HOST);
    env.set("AWS_ENDPOINT_URL_STS", refused_url());
    let (code, report, _) = doctor_json(&env, &[]);
    assert_eq!(check(&report, "caller_identity")["status"], "fail");
    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(report["ok"], false);

    // A token, but Docker does not route the host here.
    let env = TestEnv::new();
    let (code, report, _) = doctor_json(&env, &[HOST]);
    assert_eq!(check(&report, "token")["status"], "pass");
    assert_eq!(check(&report, "docker_config")["status"], "fail");
    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(report["ok"], false);
}

/// The text report shows each check as it finishes: with the token call hanging, the lines
/// before it are already on stdout while the process still runs.
#[test]
fn the_text_report_streams_each_check_as_it_finishes() {
    use std::io::BufRead;
    let mut env = TestEnv::new();
    env.set("AWS_ECR_TIMEOUT", "600");
    // GetCallerIdentity answers; GetAuthorizationToken never does.
    env.aws.script([Reply::Token]);
    env.aws.always(Reply::Hang);
    let mut child = env
        .command(&["doctor", HOST])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(stdout).lines() {
            let Ok(l) = l else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let limit = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !seen
        .iter()
        .any(|l: &String| l.starts_with("ok    caller_identity"))
    {
        let left = limit.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => seen.push(l),
            Err(_) => {
                let _ = child.kill();
                panic!("no caller_identity line while the token call hangs; got {seen:?}");
            }
        }
    }
    // Printed before the token step's attempts were done (the SDK retries a hung attempt),
    // not all at once at the end.
    assert!(
        env.aws.count("ecr") <= 1,
        "the lines came after {} token attempts: not streamed",
        env.aws.count("ecr")
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "the process ended: the lines were not streamed"
    );
    assert!(
        seen.iter().any(|l| l.starts_with("ok    credentials")),
        "{seen:?}"
    );
    assert!(
        !seen
            .iter()
            .any(|l| l.split_whitespace().nth(1) == Some("token")),
        "{seen:?}"
    );
    let _ = child.kill();
    let _ = child.wait();
}
