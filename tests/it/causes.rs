//! The one line Docker shows names the most specific cause (issue 19): the profile that does
//! not exist, the session to renew, no credentials at all; never the SDK's chain dump.

use crate::support;

use support::*;

const PRIVATE: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com";

fn keyless_env() -> TestEnv {
    let mut env = TestEnv::new();
    env.unset("AWS_ACCESS_KEY_ID")
        .unset("AWS_SECRET_ACCESS_KEY");
    env
}

/// The get's one error line.
fn error_line(env: &TestEnv) -> String {
    let out = env.get(PRIVATE);
    assert_not_found(&out);
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert_eq!(env.aws.total(), 0, "asked AWS: {err}");
    lines[0].to_string()
}

#[test]
fn a_missing_profile_on_a_laptop_is_named() {
    let mut env = keyless_env();
    // Instance metadata not disabled; nothing answers there, as on a laptop.
    env.unset("AWS_EC2_METADATA_DISABLED");
    env.set("AWS_PROFILE", "prod");
    std::fs::write(
        env.home().join(".aws/config"),
        "[profile dev]\nregion = us-west-2\n",
    )
    .unwrap();
    let line = error_line(&env);
    assert!(line.contains("profile prod"), "{line}");
    assert!(
        line.contains("neither the config nor the credentials file"),
        "{line}"
    );
    assert!(!line.contains("IMDS"), "{line}");
}

#[test]
fn a_missing_profile_with_metadata_disabled_is_named() {
    let mut env = keyless_env();
    env.set("AWS_PROFILE", "prod");
    let line = error_line(&env);
    assert!(line.contains("profile prod"), "{line}");
    assert!(
        !line.contains("set AWS_PROFILE"),
        "advice that does not apply: {line}"
    );
    assert!(!line.contains("Attempted"), "the SDK's chain dump: {line}");
}

#[test]
fn no_credentials_at_all_is_one_short_line() {
    let env = keyless_env();
    let line = error_line(&env);
    assert!(line.contains("no AWS credentials found"), "{line}");
    assert!(!line.contains("Attempted"), "the SDK's chain dump: {line}");
    assert!(line.len() < 400, "{} characters: {line}", line.len());
}

#[test]
fn an_sso_profile_without_a_session_says_how_to_sign_in() {
    let mut env = keyless_env();
    env.set("AWS_PROFILE", "sso");
    std::fs::write(
        env.home().join(".aws/config"),
        "[profile sso]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = Puller\nregion = us-west-2\n[sso-session corp]\nsso_start_url = https://example.awsapps.com/start\nsso_region = us-west-2\n",
    )
    .unwrap();
    let line = error_line(&env);
    assert!(line.contains("aws sso login --profile sso"), "{line}");
}
