//! The kubelet credential provider protocol against the fake AWS endpoint: the answer in each
//! apiVersion, its strictness, the cache duration, invocation as `ecr-credential-provider`,
//! the disk cache, per-pod roles through STS, the region fallback, and every failure.

use crate::support;

use base64::Engine;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::process::{Command, Output};
use std::time::Duration;
use support::*;

const GROUP: &str = "credentialprovider.kubelet.k8s.io";
const PRIVATE: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com";
const PASSWORD: &str = "kubelet-pull-password";
const ROLE: &str = "arn:aws:iam::123456789012:role/image-puller";
const ISSUER: &str = "https://oidc.eks.us-west-2.amazonaws.com/id/EXAMPLE";

/// The response as the kubelet decodes it: every field required, nothing else allowed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Response {
    kind: String,
    api_version: String,
    cache_key_type: String,
    cache_duration: String,
    auth: BTreeMap<String, AuthConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthConfig {
    username: String,
    password: String,
}

fn request(version: &str, image: &str) -> String {
    serde_json::json!({
        "kind": "CredentialProviderRequest",
        "apiVersion": format!("{GROUP}/{version}"),
        "image": image,
    })
    .to_string()
}

/// A v1 request with a service account token and annotations, as the kubelet sends them when
/// the provider has `tokenAttributes`.
fn pod_request(image: &str, token: &str, annotations: &[(&str, &str)]) -> String {
    let annotations: BTreeMap<&str, &str> = annotations.iter().copied().collect();
    serde_json::json!({
        "kind": "CredentialProviderRequest",
        "apiVersion": format!("{GROUP}/v1"),
        "image": image,
        "serviceAccountToken": token,
        "serviceAccountAnnotations": annotations,
    })
    .to_string()
}

/// A service account token as the API server shapes it (the signature is not checked here).
fn sa_token(namespace: &str, name: &str) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let claims = serde_json::json!({
        "iss": ISSUER,
        "sub": format!("system:serviceaccount:{namespace}:{name}"),
        "aud": ["sts.amazonaws.com"],
        "exp": 4_102_444_800u64,
    });
    format!(
        "{}.{}.fake-signature-{namespace}-{name}",
        b64(r#"{"alg":"RS256","kid":"k"}"#),
        b64(&claims.to_string())
    )
}

fn provide(env: &TestEnv, body: &str) -> Output {
    env.run(&["kubelet"], body.as_bytes())
}

/// A successful answer: exit 0, one JSON line on stdout and nothing else, decoded strictly.
fn provide_ok(env: &TestEnv, body: &str) -> Response {
    let out = provide(env, body);
    parse_ok(&out)
}

fn parse_ok(out: &Output) -> Response {
    assert!(
        out.status.success(),
        "the provider failed: stdout={} stderr={}",
        stdout(out),
        stderr(out)
    );
    let text = stdout(out);
    assert!(
        text.ends_with('\n') && text.lines().count() == 1,
        "{text:?}"
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("strict decoding failed: {e}: {text}"))
}

/// A failure as the kubelet needs it: non-zero, nothing on stdout, one line on stderr.
fn assert_fails(out: &Output, needle: &str) -> String {
    assert_ne!(out.status.code(), Some(0), "stdout: {}", stdout(out));
    assert!(out.status.code().is_some(), "killed by a signal: a panic?");
    assert!(out.stdout.is_empty(), "stdout: {}", stdout(out));
    let err = stderr(out);
    assert_eq!(err.lines().count(), 1, "not one line: {err:?}");
    assert!(err.ends_with('\n'), "{err:?}");
    assert!(
        err.to_lowercase().contains(&needle.to_lowercase()),
        "{needle:?} not in {err:?}"
    );
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// `1h2m3s` to seconds.
fn go_seconds(text: &str) -> u64 {
    let mut total = 0;
    let mut number = String::new();
    for c in text.chars() {
        match c {
            '0'..='9' => number.push(c),
            'h' | 'm' | 's' => {
                let n: u64 = number.parse().expect(text);
                total += n * match c {
                    'h' => 3600,
                    'm' => 60,
                    _ => 1,
                };
                number.clear();
            }
            _ => panic!("not a Go duration: {text}"),
        }
    }
    assert!(number.is_empty(), "not a Go duration: {text}");
    total
}

#[test]
fn round_trip_in_each_api_version() {
    let env = TestEnv::new();
    env.aws.set_password(PASSWORD);
    for version in ["v1", "v1beta1", "v1alpha1"] {
        let image = format!("{PRIVATE}/team/app:1.{}", version.len());
        let out = provide(&env, &request(version, &image));
        assert!(stderr(&out).is_empty(), "{version}: {}", stderr(&out));
        let answer = parse_ok(&out);
        assert_eq!(answer.kind, "CredentialProviderResponse", "{version}");
        assert_eq!(answer.api_version, format!("{GROUP}/{version}"));
        assert_eq!(answer.cache_key_type, "Registry", "{version}");
        let seconds = go_seconds(&answer.cache_duration);
        assert!(
            (6 * 3600 - 60..=6 * 3600).contains(&seconds),
            "{version}: {}",
            answer.cache_duration
        );
        assert_eq!(
            answer.auth.keys().collect::<Vec<_>>(),
            vec![PRIVATE],
            "{version}"
        );
        assert_eq!(answer.auth[PRIVATE].username, "AWS", "{version}");
        assert_eq!(answer.auth[PRIVATE].password, PASSWORD, "{version}");
    }
    let calls = env.aws.calls();
    assert_eq!(calls.len(), 1, "one token serves all three: {calls:?}");
    assert_eq!(
        (
            calls[0].service.as_str(),
            calls[0].region.as_str(),
            calls[0].access_key.as_str()
        ),
        ("ecr", "us-west-2", ACCESS_KEY)
    );
}

#[test]
fn the_answer_has_exactly_the_documented_fields() {
    let env = TestEnv::new();
    let out = provide(&env, &request("v1", &format!("{PRIVATE}/app")));
    parse_ok(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys = |v: &serde_json::Value| -> Vec<String> {
        v.as_object()
            .expect("an object")
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    let mut top = keys(&v);
    top.sort();
    assert_eq!(
        top,
        [
            "apiVersion",
            "auth",
            "cacheDuration",
            "cacheKeyType",
            "kind"
        ]
    );
    assert_eq!(keys(&v["auth"]), [PRIVATE]);
    let mut inner = keys(&v["auth"][PRIVATE]);
    inner.sort();
    assert_eq!(inner, ["password", "username"]);
    // No key appears twice (a map parse would keep only one of them).
    let text = stdout(&out);
    for key in [
        "kind",
        "apiVersion",
        "cacheKeyType",
        "cacheDuration",
        "auth",
    ] {
        assert_eq!(text.matches(&format!("\"{key}\":")).count(), 1, "{text}");
    }
}

#[test]
fn cache_duration_is_half_the_remaining_lifetime() {
    let env = TestEnv::new();
    env.aws.set_lifetime(Duration::from_secs(2 * 3600));
    let answer = provide_ok(&env, &request("v1", &format!("{PRIVATE}/app")));
    let seconds = go_seconds(&answer.cache_duration);
    assert!((3600 - 60..=3600).contains(&seconds), "{answer:?}");
    assert!(
        answer.cache_duration.starts_with("59m") || answer.cache_duration == "1h0m0s",
        "Go's format: {}",
        answer.cache_duration
    );

    let env = TestEnv::new();
    env.aws.set_lifetime(Duration::from_secs(90));
    let answer = provide_ok(&env, &request("v1", &format!("{PRIVATE}/app")));
    let seconds = go_seconds(&answer.cache_duration);
    assert!((40..=45).contains(&seconds), "{answer:?}");
    assert!(answer.cache_duration.ends_with('s') && !answer.cache_duration.contains('m'));
}

#[test]
fn invoked_as_ecr_credential_provider_through_a_link() {
    let env = TestEnv::new();
    env.aws.set_password(PASSWORD);
    let bin_dir = env.dir.path().join("kubelet-plugins");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let link = bin_dir.join("ecr-credential-provider");
    std::os::unix::fs::symlink(bin(), &link).unwrap();
    let mut cmd = Command::new(&link);
    cmd.env_clear().envs(&env.vars);
    let out = run_bounded(
        cmd,
        request("v1", &format!("{PRIVATE}/app")).as_bytes(),
        Duration::from_secs(60),
    );
    let answer = parse_ok(&out);
    assert_eq!(answer.auth[PRIVATE].password, PASSWORD);

    // The same binary under its own name speaks Docker's protocol, not the kubelet's.
    let out = env.get(PRIVATE);
    assert!(out.status.success());
    assert!(stdout(&out).contains("\"ServerURL\""));
}

#[test]
fn the_disk_cache_is_shared_across_invocations() {
    let env = TestEnv::new();
    let first = provide_ok(&env, &request("v1", &format!("{PRIVATE}/app")));
    assert_eq!(env.aws.total(), 1);
    // A new process (a restarted kubelet) and another account of the region: no API call.
    let other = "210987654321.dkr.ecr.us-west-2.amazonaws.com";
    let second = provide_ok(&env, &request("v1", &format!("{other}/app")));
    assert_eq!(env.aws.total(), 1, "the second request cost an API call");
    assert_eq!(first.auth[PRIVATE].password, second.auth[other].password);
    // The Docker helper reads the same cache.
    env.get_ok(PRIVATE);
    assert_eq!(env.aws.total(), 1);
}

#[test]
fn auth_key_is_the_registry_as_in_the_image() {
    let env = TestEnv::new();
    let with_port = format!("{PRIVATE}:443");
    let answer = provide_ok(
        &env,
        &request("v1", &format!("{with_port}/team/app@sha256:abc")),
    );
    assert_eq!(answer.auth.keys().collect::<Vec<_>>(), vec![&with_port]);

    let answer = provide_ok(&env, &request("v1", "public.ecr.aws/nginx/nginx:latest"));
    assert_eq!(
        answer.auth.keys().collect::<Vec<_>>(),
        vec!["public.ecr.aws"]
    );
    let public = env
        .aws
        .calls()
        .into_iter()
        .filter(|c| c.service == "ecr-public")
        .collect::<Vec<_>>();
    assert_eq!(public.len(), 1);
    assert_eq!(public[0].region, "us-east-1");
}

#[test]
fn per_pod_role_is_assumed_with_the_service_account_token() {
    let env = TestEnv::new();
    let token = sa_token("team-a", "puller");
    let body = pod_request(
        &format!("{PRIVATE}/app"),
        &token,
        &[("eks.amazonaws.com/ecr-role-arn", ROLE)],
    );
    let out = provide(&env, &body);
    let answer = parse_ok(&out);
    assert!(!stderr(&out).contains(&token));
    let calls = env.aws.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    let sts = &calls[0];
    assert_eq!(sts.service, "sts:AssumeRoleWithWebIdentity");
    let form = |k: &str| {
        sts.form
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(form("RoleArn"), Some(ROLE));
    assert_eq!(form("WebIdentityToken"), Some(token.as_str()));
    assert_eq!(form("RoleSessionName"), Some("ecr-login.team-a.puller"));
    assert_eq!(sts.access_key, "-", "AssumeRoleWithWebIdentity is unsigned");
    let ecr = &calls[1];
    assert_eq!(ecr.service, "ecr");
    assert!(
        ecr.access_key.starts_with("ASIA") && ecr.access_key != ACCESS_KEY,
        "the ECR call did not use the assumed role: {}",
        ecr.access_key
    );
    assert!(
        ecr.session_token
            .as_deref()
            .is_some_and(|t| t.starts_with("sts-session-")),
        "{ecr:?}"
    );
    assert!(
        answer.auth[PRIVATE]
            .password
            .ends_with(&ecr.access_key[ecr.access_key.len() - 4..])
    );

    // The same service account again (with a fresh token): a cache hit, no STS call.
    let again = pod_request(
        &format!("{PRIVATE}/other"),
        &format!("{token}x"),
        &[("eks.amazonaws.com/ecr-role-arn", ROLE)],
    );
    let second = provide_ok(&env, &again);
    assert_eq!(env.aws.total(), 2, "a cache hit must not call STS");
    assert_eq!(second.auth[PRIVATE].password, answer.auth[PRIVATE].password);

    // Another service account naming the same role is not handed that token: STS decides.
    let other_sa = pod_request(
        &format!("{PRIVATE}/app"),
        &sa_token("team-b", "intruder"),
        &[("eks.amazonaws.com/ecr-role-arn", ROLE)],
    );
    let third = provide_ok(&env, &other_sa);
    assert_eq!(env.aws.count("sts:AssumeRoleWithWebIdentity"), 2);
    assert_ne!(third.auth[PRIVATE].password, answer.auth[PRIVATE].password);

    // A pod without a role pulls with the node's credentials, not with any pod's.
    let plain = pod_request(&format!("{PRIVATE}/app"), &sa_token("team-c", "plain"), &[]);
    let node = provide_ok(&env, &plain);
    let last = env.aws.calls().pop().unwrap();
    assert_eq!(
        (last.service.as_str(), last.access_key.as_str()),
        ("ecr", ACCESS_KEY)
    );
    assert_ne!(node.auth[PRIVATE].password, answer.auth[PRIVATE].password);
    assert_eq!(env.aws.count("sts:AssumeRoleWithWebIdentity"), 2);
}

#[test]
fn default_pod_role_comes_from_the_environment() {
    let mut env = TestEnv::new();
    env.set("AWS_ECR_ROLE_ARN", ROLE);
    let body = pod_request(&format!("{PRIVATE}/app"), &sa_token("ns", "sa"), &[]);
    provide_ok(&env, &body);
    let calls = env.aws.calls();
    assert_eq!(calls[0].service, "sts:AssumeRoleWithWebIdentity");
    assert!(calls[0].form.contains(&("RoleArn".into(), ROLE.into())));
    // Without a token there is nothing to assume it with: the node's credentials.
    provide_ok(
        &env,
        &request("v1", "111111111111.dkr.ecr.eu-west-1.amazonaws.com/a"),
    );
    let last = env.aws.calls().pop().unwrap();
    assert_eq!(last.access_key, ACCESS_KEY);
    assert_eq!(env.aws.count("sts:AssumeRoleWithWebIdentity"), 1);
}

#[test]
fn a_role_without_a_token_is_an_error() {
    let env = TestEnv::new();
    let body = serde_json::json!({
        "kind": "CredentialProviderRequest",
        "apiVersion": format!("{GROUP}/v1"),
        "image": format!("{PRIVATE}/app"),
        "serviceAccountAnnotations": {"eks.amazonaws.com/ecr-role-arn": ROLE},
    })
    .to_string();
    assert_fails(&provide(&env, &body), "tokenAttributes");
    assert_eq!(env.aws.total(), 0);
}

#[test]
fn bad_role_or_token_is_an_error_without_a_call() {
    let env = TestEnv::new();
    let image = format!("{PRIVATE}/app");
    let token = sa_token("ns", "sa");
    let out = provide(
        &env,
        &pod_request(
            &image,
            &token,
            &[("eks.amazonaws.com/ecr-role-arn", "puller")],
        ),
    );
    assert_fails(&out, "not an IAM role ARN");
    let out = provide(
        &env,
        &pod_request(
            &image,
            "not-a-jwt",
            &[("eks.amazonaws.com/ecr-role-arn", ROLE)],
        ),
    );
    let err = assert_fails(&out, "not a JWT");
    assert!(!err.contains("not-a-jwt"), "the token is echoed: {err}");
    assert_eq!(env.aws.total(), 0);
}

#[test]
fn sts_denial_is_explained() {
    let env = TestEnv::new();
    env.aws.always(Reply::AccessDenied);
    let token = sa_token("ns", "sa");
    let out = provide(
        &env,
        &pod_request(
            &format!("{PRIVATE}/app"),
            &token,
            &[("eks.amazonaws.com/ecr-role-arn", ROLE)],
        ),
    );
    let err = assert_fails(&out, "access denied");
    assert!(err.contains(fake_aws::STS_DENIED_MESSAGE), "{err}");
    assert!(!err.contains(&token));
    assert_eq!(env.aws.count("ecr"), 0);
}

#[test]
fn non_ecr_hosts_use_the_configured_region() {
    let mut env = TestEnv::new();
    env.set("AWS_REGION", "eu-central-1");
    let mirror = "mirror.example.com:5000";
    let answer = provide_ok(&env, &request("v1", &format!("{mirror}/library/nginx")));
    assert_eq!(answer.auth.keys().collect::<Vec<_>>(), vec![mirror]);
    let calls = env.aws.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        (calls[0].service.as_str(), calls[0].region.as_str()),
        ("ecr", "eu-central-1")
    );
    // It is that region's token: a real ECR host of the region reuses it.
    provide_ok(
        &env,
        &request("v1", "123456789012.dkr.ecr.eu-central-1.amazonaws.com/app"),
    );
    assert_eq!(env.aws.total(), 1);

    // The profile's region when the environment names none.
    let mut env = TestEnv::new();
    env.write_file("home/.aws/config", "[default]\nregion = ap-southeast-2\n");
    provide_ok(&env, &request("v1", "registry.example.com/app"));
    assert_eq!(env.aws.calls()[0].region, "ap-southeast-2");
    env.set("AWS_DEFAULT_REGION", "sa-east-1");
    provide_ok(&env, &request("v1", "registry.example.com/app"));
    assert_eq!(env.aws.calls()[1].region, "sa-east-1");
}

#[test]
fn non_ecr_host_without_a_region_is_an_error() {
    let env = TestEnv::new();
    let out = provide(&env, &request("v1", "registry.example.com/app"));
    assert_fails(&out, "no AWS region");
    assert_eq!(env.aws.total(), 0);
}

#[test]
fn malformed_requests_are_refused() {
    let env = TestEnv::new();
    let image = format!("{PRIVATE}/app");
    let cases: Vec<(String, &str)> = vec![
        ("{\"kind\": ".to_string(), "not valid JSON"),
        ("".to_string(), "stdin is empty"),
        ("\"just a string\"".to_string(), "not a JSON object"),
        ("\u{0}\u{1}binary".to_string(), "not valid JSON"),
        (
            serde_json::json!({"kind": "Pod", "apiVersion": format!("{GROUP}/v1"), "image": image})
                .to_string(),
            "kind",
        ),
        (
            serde_json::json!({"apiVersion": format!("{GROUP}/v1"), "image": image}).to_string(),
            "no kind",
        ),
        (request("v2", &image), "unsupported apiVersion"),
        (
            serde_json::json!({"kind": "CredentialProviderRequest", "apiVersion": "kubelet.config.k8s.io/v1", "image": image})
                .to_string(),
            "unsupported apiVersion",
        ),
        (request("v1", ""), "image is empty"),
        (
            serde_json::json!({"kind": "CredentialProviderRequest", "apiVersion": format!("{GROUP}/v1")})
                .to_string(),
            "image is empty",
        ),
        (
            serde_json::json!({"kind": "CredentialProviderRequest", "apiVersion": format!("{GROUP}/v1"), "image": 42})
                .to_string(),
            "image is not a string",
        ),
        (request("v1", &format!("https://{image}")), "bad image"),
        (
            request("v1", &format!("evil.example.com@{image}")),
            "bad image",
        ),
        (
            request("v1", "123456789012.dkr.ecr.us-west-2.amazonaws.com:99999/app"),
            "bad image",
        ),
    ];
    for (body, needle) in &cases {
        let out = provide(&env, body);
        assert_fails(&out, needle);
    }
    assert_eq!(env.aws.total(), 0);
}

#[test]
fn oversized_input_is_refused() {
    let env = TestEnv::new();
    let padding = "x".repeat(2 * 1024 * 1024);
    let body = serde_json::json!({
        "kind": "CredentialProviderRequest",
        "apiVersion": format!("{GROUP}/v1"),
        "image": format!("{PRIVATE}/app"),
        "padding": padding,
    })
    .to_string();
    assert_fails(&provide(&env, &body), "longer than");
    assert_eq!(env.aws.total(), 0);
}

#[test]
fn access_denied_is_one_clear_line() {
    let env = TestEnv::new();
    env.aws.always(Reply::AccessDenied);
    let err = assert_fails(
        &provide(&env, &request("v1", &format!("{PRIVATE}/app"))),
        "access denied",
    );
    assert!(err.contains(fake_aws::IAM_MESSAGE), "{err}");
    assert!(err.contains(PRIVATE), "{err}");
}

#[test]
fn a_hung_endpoint_fails_in_bounded_time() {
    let mut env = TestEnv::new();
    env.set("AWS_ECR_TIMEOUT", "2");
    env.aws.always(Reply::Hang);
    let out = provide(&env, &request("v1", &format!("{PRIVATE}/app")));
    assert_fails(&out, "timed out");
    // The pod role's STS call runs under the same deadline.
    let out = provide(
        &env,
        &pod_request(
            &format!("{PRIVATE}/app"),
            &sa_token("ns", "sa"),
            &[("eks.amazonaws.com/ecr-role-arn", ROLE)],
        ),
    );
    assert_fails(&out, "timed out");
    assert!(env.aws.count("sts:AssumeRoleWithWebIdentity") >= 1);
    assert_eq!(
        env.aws.count("ecr"),
        1,
        "only the first request reached ECR"
    );
}

#[test]
fn arguments() {
    let env = TestEnv::new();
    let out = env.run(&["kubelet", "--version"], b"");
    assert!(out.status.success());
    assert!(stdout(&out).contains("ecr-credential-provider"));
    // A CredentialProviderConfig's `args` are accepted (the reference plugin takes them), not
    // refused with a usage error: the kubelet would otherwise get no credentials at all.
    let body = request("v1", &format!("{PRIVATE}/app"));
    let out = env.run(&["kubelet", "--bogus", "get-credentials"], body.as_bytes());
    parse_ok(&out);
    let out = env.run(&["kubelet", "-v"], b"");
    assert!(out.status.success());
}

#[test]
fn the_log_file_does_not_swallow_the_error_line() {
    let mut env = TestEnv::new();
    let log = env.dir.path().join("ecr-login.log");
    env.set("AWS_ECR_LOG_FILE", path_str(&log));
    let out = provide(&env, &request("v9", &format!("{PRIVATE}/app")));
    assert_fails(&out, "unsupported apiVersion");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("unsupported apiVersion"), "{logged}");
}

/// IRSA's annotation alone: the plugin reads its own annotation, so it pulls with the node's
/// credentials, and says so in one log line naming both annotations.
#[test]
fn an_irsa_annotation_alone_is_explained_in_the_log() {
    let env = TestEnv::new();
    let body = pod_request(
        &format!("{PRIVATE}/app"),
        &sa_token("ns", "sa"),
        &[("eks.amazonaws.com/role-arn", ROLE)],
    );
    let out = provide(&env, &body);
    parse_ok(&out);
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err:?}");
    for needle in [
        "eks.amazonaws.com/role-arn",
        "eks.amazonaws.com/ecr-role-arn",
        "node's credentials",
    ] {
        assert!(err.contains(needle), "{needle:?} not in {err:?}");
    }
    assert_eq!(env.aws.count("sts:AssumeRoleWithWebIdentity"), 0);
    assert_eq!(env.aws.calls().pop().unwrap().access_key, ACCESS_KEY);

    // With AWS_ECR_ROLE_ARN, that role is used instead, and the line says so.
    let mut env = TestEnv::new();
    env.set("AWS_ECR_ROLE_ARN", ROLE);
    let out = provide(&env, &body);
    parse_ok(&out);
    let err = stderr(&out);
    assert!(err.contains("AWS_ECR_ROLE_ARN"), "{err:?}");
    assert!(!err.contains("node's credentials"), "{err:?}");
    assert_eq!(env.aws.count("sts:AssumeRoleWithWebIdentity"), 1);

    // Both annotations: ours is read, nothing to say.
    let env = TestEnv::new();
    let both = pod_request(
        &format!("{PRIVATE}/app"),
        &sa_token("ns", "sa"),
        &[
            ("eks.amazonaws.com/role-arn", ROLE),
            ("eks.amazonaws.com/ecr-role-arn", ROLE),
        ],
    );
    let out = provide(&env, &both);
    parse_ok(&out);
    assert_eq!(stderr(&out), "");
}

/// A token whose claims have the wrong type: the error names the claim and what it should be.
#[test]
fn token_claim_errors_name_the_claim() {
    let env = TestEnv::new();
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let jwt = |claims: &str| format!("{}.{}.sig", b64(r#"{"alg":"RS256"}"#), b64(claims));
    for (claims, needle) in [
        (
            format!(r#"{{"iss":"{ISSUER}","sub":"system:serviceaccount:ns:sa","aud":7}}"#),
            "claim aud is a number; expected a string or an array of strings",
        ),
        (
            r#"{"iss":"i","sub":"s","aud":["a",1]}"#.to_string(),
            "claim aud",
        ),
        (
            r#"{"sub":"system:serviceaccount:ns:sa"}"#.to_string(),
            "claim iss is missing",
        ),
        (
            r#"{"iss":"i","sub":42}"#.to_string(),
            "claim sub is a number",
        ),
        (r#"{"iss":"i","sub":""}"#.to_string(), "claim sub is empty"),
    ] {
        let body = pod_request(
            &format!("{PRIVATE}/app"),
            &jwt(&claims),
            &[("eks.amazonaws.com/ecr-role-arn", ROLE)],
        );
        assert_fails(&provide(&env, &body), needle);
    }
    assert_eq!(env.aws.total(), 0);
}
