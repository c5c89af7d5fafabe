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
    env.write_file(
        "home/.docker/config.json",
        &format!("{{\"credHelpers\": {{\"{HOST}\": \"ecr-login\"}}}}"),
    );
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
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("ok    host"), "{text}");
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
    let env = TestEnv::new();
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
    let env = TestEnv::new();
    let (code, report, _) = doctor_json(&env, &[]);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["host"], Value::Null);
    assert_eq!(check(&report, "credentials")["status"], "pass");
    assert_eq!(check(&report, "caller_identity")["status"], "pass");
    assert_eq!(env.aws.count("ecr"), 0);
}
