//! What Go-helper users already have set, and hosts the real world sends: each of these failed
//! or fell short of the Go helper before.

use crate::support;

use std::time::Duration;
use support::*;

const PRIVATE: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com";

#[test]
fn a_literal_tilde_in_the_cache_dir_is_the_home() {
    let mut env = TestEnv::new();
    let cwd = tempfile::tempdir().unwrap();
    env.set("AWS_ECR_CACHE_DIR", "~/.ecr-cache");
    let mut cmd = env.command(&["get"]);
    cmd.current_dir(cwd.path());
    let out = run_bounded(cmd, PRIVATE.as_bytes(), Duration::from_secs(60));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !cwd.path().join("~").exists(),
        "a live token was written under ./~ in the current directory"
    );
    assert!(env.home().join(".ecr-cache/ecr-login-cache").is_dir());
}

#[test]
fn the_legacy_access_key_names() {
    let mut env = TestEnv::new();
    env.unset("AWS_ACCESS_KEY_ID")
        .unset("AWS_SECRET_ACCESS_KEY");
    env.set("AWS_ACCESS_KEY", "AKIAFAKEFAKEFAKELEG1");
    env.set("AWS_SECRET_KEY", "legacy-secret");
    let answer = env.get_ok(PRIVATE);
    assert!(answer["Secret"].as_str().unwrap().ends_with("-kLEG1"));
    assert_eq!(env.aws.calls()[0].access_key, "AKIAFAKEFAKEFAKELEG1");
}

#[test]
fn dash_v_prints_the_version() {
    let env = TestEnv::new();
    let out = env.run(&["-v"], b"");
    assert!(out.status.success());
    assert!(
        stdout(&out).contains(env!("CARGO_PKG_VERSION")),
        "{}",
        stdout(&out)
    );
}

#[test]
fn regions_outside_their_suffixes_partition_are_not_ecr() {
    let env = TestEnv::new();
    for host in [
        "123456789012.dkr.ecr.us-east-1.amazonaws.com.cn",
        "123456789012.dkr.ecr.cn-north-1.amazonaws.com",
        "123456789012.dkr-ecr.cn-north-1.on.aws",
    ] {
        let out = env.get(host);
        assert_not_found(&out);
    }
    assert_eq!(env.aws.total(), 0);
    // GovCloud shares the commercial suffixes.
    env.get_ok("123456789012.dkr.ecr.us-gov-west-1.amazonaws.com");
}

#[test]
fn both_names_of_ecr_public_share_one_token() {
    let env = TestEnv::new();
    let a = env.get_ok("public.ecr.aws");
    let b = env.get_ok("ecr-public.aws.com");
    assert_eq!(a["Secret"], b["Secret"]);
    assert_eq!(env.aws.count("ecr-public"), 1);
}

#[test]
fn endpoint_passwords_and_queries_never_reach_a_message() {
    let mut env = TestEnv::new();
    // Nothing listens on port 9 of loopback: a network error that names the endpoint.
    env.set(
        "AWS_ENDPOINT_URL_ECR",
        "http://user:hunter2@127.0.0.1:9/path?token=sekrit-query",
    );
    env.set("AWS_ECR_TIMEOUT", "10");
    let out = env.get(PRIVATE);
    assert_not_found(&out);
    let err = stderr(&out);
    assert!(err.contains("127.0.0.1:9"), "{err}");
    for secret in ["hunter2", "sekrit-query"] {
        assert!(!err.contains(secret), "{secret} in: {err}");
    }
    let out = env.run(&["doctor", PRIVATE], b"");
    for secret in ["hunter2", "sekrit-query"] {
        assert!(
            !stdout(&out).contains(secret),
            "{secret} in doctor: {}",
            stdout(&out)
        );
    }
    let out =
        env.get("https://AWS:pw-typed@123456789012.dkr.ecr.us-west-2.amazonaws.com?x=sekrit-query");
    assert!(!stderr(&out).contains("sekrit-query") && !stderr(&out).contains("pw-typed"));
}

#[test]
fn get_login_password_is_served_from_the_cache() {
    let mut env = TestEnv::new();
    let from_get = env.get_ok(PRIVATE);
    let out = env.run(&["get-login-password", "--region", "us-west-2"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim_end(),
        from_get["Secret"].as_str().unwrap()
    );
    let out = env.run(&["get-login-password", "--registry", PRIVATE], b"");
    assert_eq!(
        stdout(&out).trim_end(),
        from_get["Secret"].as_str().unwrap()
    );
    assert_eq!(env.aws.count("ecr"), 1, "a cached token cost an API call");

    let out = env.run(&["get-login-password", "--public"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(env.aws.count("ecr-public"), 1);

    env.set("AWS_REGION", "eu-west-1");
    let out = env.run(&["get-login-password"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(env.aws.calls().last().unwrap().region, "eu-west-1");

    env.unset("AWS_REGION");
    let out = env.run(&["get-login-password"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no region"), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    let out = env.run(&["get-login-password", "--registry", "docker.io"], b"");
    assert_eq!(out.status.code(), Some(1));
    let out = env.run(
        &[
            "get-login-password",
            "--region",
            "eu-west-1",
            "--registry",
            PRIVATE,
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not eu-west-1"), "{}", stderr(&out));
}

/// A TLS front (socat) for the fake, with a certificate of a test CA: the SDK trusts it only
/// through `AWS_CA_BUNDLE` or the profile's `ca_bundle`, as behind a TLS-inspecting proxy.
#[test]
fn a_ca_bundle_is_trusted() {
    if !require_tool("socat") || !require_tool("openssl") {
        return;
    }
    let mut env = TestEnv::new();
    let pki = support::e2e::make_pki(&env.dir.path().join("pki"), &["localhost"]);
    let port = support::e2e::free_port();
    let mut front = std::process::Command::new("socat")
        .arg(format!(
            "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={},key={},verify=0",
            pki.cert.display(),
            pki.key.display()
        ))
        .arg(format!("TCP:127.0.0.1:{}", env.aws.port()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Ready when it accepts connections.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "socat did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    env.set("AWS_ENDPOINT_URL_ECR", format!("https://localhost:{port}"));
    env.set("AWS_ECR_DISABLE_CACHE", "1");
    let without = env.get(PRIVATE);
    env.set("AWS_CA_BUNDLE", path_str(&pki.ca_file));
    let with_env = env.get(PRIVATE);
    env.unset("AWS_CA_BUNDLE");
    std::fs::write(
        env.home().join(".aws/config"),
        format!("[default]\nca_bundle = {}\n", pki.ca_file.display()),
    )
    .unwrap();
    let with_profile = env.get(PRIVATE);
    let _ = front.kill();
    let _ = front.wait();
    assert_not_found(&without);
    assert!(
        with_env.status.success(),
        "AWS_CA_BUNDLE: {}",
        stderr(&with_env)
    );
    assert!(
        with_profile.status.success(),
        "ca_bundle: {}",
        stderr(&with_profile)
    );
}

/// A region newer than this program works for `get` without an upgrade, as with the Go helper:
/// only `configure` asks the user to vouch for a region it does not know.
#[test]
fn a_region_newer_than_the_program_still_gets_a_token() {
    let env = TestEnv::new();
    env.get_ok("123456789012.dkr.ecr.xy-future-9.amazonaws.com");
    assert_eq!(env.aws.calls()[0].region, "xy-future-9");
}
