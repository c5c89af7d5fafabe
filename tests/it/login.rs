//! `aws login` sessions: a profile with `login_session`, whose credentials the SDK reads from
//! the login token cache (`~/.aws/login/cache/<sha256 of the session>.json`, written by
//! `aws login`) and refreshes through AWS Sign-In when they are about to expire.

use crate::support;

use sha2::Digest;
use support::*;

const PRIVATE: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com";
const SESSION: &str = "arn:aws:iam::123456789012:user/Admin";

/// A throwaway P-256 key, made for these tests: the SDK signs a refresh with the session's key.
const DPOP_KEY: &str = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIHQUvohjAIDyqlK5wIp8/TxkKWXGfNz3HYbtb7Hjvg2ioAoGCCqGSM49\nAwEHoUQDQgAE/G5dA35nlFycU2WBdCDIWk2N6+a26F3yMFJ+X6LxImmJQTm7Vh8/\nUI+/SPLqLuoNOBpvXasyQAEUwThlMkChgw==\n-----END EC PRIVATE KEY-----\n";

/// An environment whose only credentials are the `signin` profile's login session.
fn login_env(session: &str) -> TestEnv {
    let mut env = TestEnv::new();
    env.unset("AWS_ACCESS_KEY_ID")
        .unset("AWS_SECRET_ACCESS_KEY");
    env.set("AWS_PROFILE", "signin");
    std::fs::write(
        env.home().join(".aws/config"),
        format!("[profile signin]\nlogin_session = {session}\nregion = us-west-2\n"),
    )
    .unwrap();
    env
}

/// Where the SDK looks for a session's token: the SHA-256 of the session ARN, in hex.
fn token_path(env: &TestEnv, session: &str) -> std::path::PathBuf {
    let digest = sha2::Sha256::digest(session.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    env.home().join(format!(".aws/login/cache/{hex}.json"))
}

/// The login token cache file as `aws login` writes it, expiring `expires_in` seconds from now.
fn write_token(env: &TestEnv, session: &str, access_key: &str, expires_in: f64) {
    let expires_at = rfc3339(now() + expires_in);
    let token = serde_json::json!({
        "accessToken": {
            "accessKeyId": access_key,
            "secretAccessKey": "login-secret",
            "sessionToken": "login-session-token",
            "accountId": "123456789012",
            "expiresAt": expires_at,
        },
        "tokenType": "aws_sigv4",
        "refreshToken": "the-refresh-token",
        "clientId": "arn:aws:signin:::devtools/same-device",
        "dpopKey": DPOP_KEY,
    });
    let path = token_path(env, session);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, token.to_string()).unwrap();
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
fn rfc3339(unix: f64) -> String {
    let secs = unix as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = support::fake_aws::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[test]
fn a_login_session_gets_a_token_with_the_cached_keys() {
    let env = login_env(SESSION);
    write_token(&env, SESSION, "ASIALOGINFAKE0000001", 3600.0);
    let answer = env.get_ok(PRIVATE);
    assert!(answer["Secret"].as_str().unwrap().starts_with("pw-ecr-"));
    let calls = env.aws.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].service, "ecr");
    assert_eq!(calls[0].access_key, "ASIALOGINFAKE0000001");
    assert_eq!(
        calls[0].session_token.as_deref(),
        Some("login-session-token")
    );
}

/// The token cache file changes with every refresh; the session (the principal's ARN) is what
/// names the identity, so the key follows the profile's `login_session`, not the file.
#[test]
fn the_key_follows_the_session_not_its_token_file() {
    let env = login_env(SESSION);
    write_token(&env, SESSION, "ASIALOGINFAKE0000001", 3600.0);
    env.get_ok(PRIVATE);
    // A refresh rewrote the file: still the same identity, so a cache hit.
    write_token(&env, SESSION, "ASIALOGINFAKE0000002", 7200.0);
    env.get_ok(PRIVATE);
    assert_eq!(
        env.aws.count("ecr"),
        1,
        "a refreshed token file missed the cache"
    );

    // Logged in as someone else into the same profile: a new session ARN, a new key.
    let other = "arn:aws:iam::123456789012:user/Other";
    std::fs::write(
        env.home().join(".aws/config"),
        format!("[profile signin]\nlogin_session = {other}\nregion = us-west-2\n"),
    )
    .unwrap();
    write_token(&env, other, "ASIALOGINFAKE0000003", 3600.0);
    env.get_ok(PRIVATE);
    let calls = env.aws.calls();
    assert_eq!(
        calls.len(),
        2,
        "another session was served the first one's token"
    );
    assert_eq!(calls[1].access_key, "ASIALOGINFAKE0000003");
}

/// Credentials about to expire are refreshed through AWS Sign-In (here a local fake, reached
/// through `AWS_ENDPOINT_URL_SIGNIN`), and the refreshed ones sign the ECR call.
#[test]
fn an_expiring_session_is_refreshed_through_sign_in() {
    let mut env = login_env(SESSION);
    let url = env.aws.url();
    env.set("AWS_ENDPOINT_URL_SIGNIN", url);
    write_token(&env, SESSION, "ASIALOGINFAKE0000001", 60.0);
    env.get_ok(PRIVATE);
    let calls = env.aws.calls();
    let signin: Vec<_> = calls.iter().filter(|c| c.service == "signin").collect();
    assert_eq!(signin.len(), 1, "{calls:?}");
    let form = |k: &str| {
        signin[0]
            .form
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(form("grantType"), "refresh_token");
    assert_eq!(form("refreshToken"), "the-refresh-token");
    assert_eq!(form("dpop"), "present");
    let ecr: Vec<_> = calls.iter().filter(|c| c.service == "ecr").collect();
    assert_eq!(ecr.len(), 1, "{calls:?}");
    assert!(
        ecr[0].access_key.starts_with("ASIASIGNIN"),
        "the ECR call was signed with {}",
        ecr[0].access_key
    );
    // The SDK keeps the refreshed session where `aws login` left it.
    let saved = std::fs::read_to_string(token_path(&env, SESSION)).unwrap();
    assert!(saved.contains("refreshed-"), "{saved}");
}
