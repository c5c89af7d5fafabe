//! The docker-credential-helper protocol against the fake AWS endpoint: answers, hosts, API call
//! counts, cache behaviour and failures.

use crate::support;

use std::time::Duration;
use support::*;

const PRIVATE: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com";

#[test]
fn get_answers_with_the_token_and_caches_it() {
    let env = TestEnv::new();
    let answer = env.get_ok(PRIVATE);
    assert_eq!(answer["ServerURL"], PRIVATE);
    assert_eq!(answer["Username"], "AWS");
    let secret = answer["Secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("pw-ecr-us-west-2-"), "{secret}");
    assert_eq!(env.aws.count("ecr"), 1);
    let call = &env.aws.calls()[0];
    assert_eq!(
        (call.region.as_str(), call.access_key.as_str()),
        ("us-west-2", ACCESS_KEY)
    );

    // A hit: same token, no call.
    let again = env.get_ok(&format!("https://{PRIVATE}/v2/"));
    assert_eq!(again["Secret"], secret.as_str());
    assert_eq!(again["ServerURL"], format!("https://{PRIVATE}/v2/"));
    assert_eq!(env.aws.total(), 1);

    let mode = |p: &std::path::Path| {
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions())
            & 0o777
    };
    assert_eq!(mode(&env.cache_file()), 0o600);
    assert_eq!(mode(&env.cache_dir()), 0o700);
    let file = std::fs::read_to_string(env.cache_file()).unwrap();
    assert!(
        !file.contains(ACCESS_KEY) && !file.contains(SECRET_KEY),
        "credentials in the cache file"
    );
}

#[test]
fn output_is_one_json_line_and_trims_input() {
    let env = TestEnv::new();
    let out = env.get(&format!("  {PRIVATE}\n"));
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(
        text.ends_with('\n') && text.lines().count() == 1,
        "{text:?}"
    );
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["ServerURL"], PRIVATE);
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

#[test]
fn one_call_serves_every_account_of_a_region() {
    let env = TestEnv::new();
    let a = env.get_ok("111111111111.dkr.ecr.us-west-2.amazonaws.com");
    let b = env.get_ok("222222222222.dkr.ecr.us-west-2.amazonaws.com:443");
    let c = env.get_ok("https://333333333333.dkr.ecr.us-west-2.amazonaws.com");
    assert_eq!(a["Secret"], b["Secret"]);
    assert_eq!(a["Secret"], c["Secret"]);
    assert_eq!(env.aws.count("ecr"), 1);
    env.get_ok("111111111111.dkr.ecr.eu-west-1.amazonaws.com");
    assert_eq!(env.aws.count("ecr"), 2);
}

#[test]
fn each_documented_host_goes_to_its_region() {
    let env = TestEnv::new();
    let cases = [
        (
            "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/blah/blah",
            "us-east-1",
        ),
        (
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com:443",
            "eu-west-1",
        ),
        (
            "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com:443",
            "eu-west-1",
        ),
        (
            "123456789012.dkr-ecr-fips.us-gov-east-1.on.aws",
            "us-gov-east-1",
        ),
        (
            "210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn/foo",
            "cn-north-1",
        ),
        (
            "123456789012.dkr.ecr.eusc-de-east-1.amazonaws.eu",
            "eusc-de-east-1",
        ),
        (
            "123456789012.dkr.ecr.us-isof-east-1.csp.hci.ic.gov",
            "us-isof-east-1",
        ),
    ];
    for (input, region) in cases {
        let before = env.aws.total();
        env.get_ok(input);
        let calls = env.aws.calls();
        if calls.len() > before {
            assert_eq!(calls.last().unwrap().region, region, "{input}");
            assert_eq!(calls.last().unwrap().service, "ecr", "{input}");
        }
    }
    // One call per distinct region; the two eu-west-1 forms share one.
    assert_eq!(env.aws.count("ecr"), 6);
}

#[test]
fn public_ecr_uses_ecr_public_in_us_east_1() {
    let env = TestEnv::new();
    let a = env.get_ok("https://public.ecr.aws/amazonlinux");
    assert_eq!(a["Username"], "AWS");
    let calls = env.aws.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        (calls[0].service.as_str(), calls[0].region.as_str()),
        ("ecr-public", "us-east-1")
    );
    env.get_ok("public.ecr.aws");
    assert_eq!(env.aws.total(), 1);
}

#[test]
fn refused_hosts_make_no_call() {
    let env = TestEnv::new();
    for input in [
        "123456789012.dkr.ecr.us-west-2.amazonaws.com.fake.example.com",
        "public.ecr.aws.fake.example.com",
        "12345678901.dkr.ecr.us-west-2.amazonaws.com",
        "1234567890123.dkr.ecr.us-west-2.amazonaws.com",
        "123456789012.dog.ecr.us-west-2.amazonaws.com",
        "123456789012.dkr.ecr.us-west-2.amazonaws.lol",
        "210987654321.dkr.ecr.cn-north-1.on.aws.com.cn",
        "not-ecr-server-url",
        "docker.io",
        "https://index.docker.io/v1/",
    ] {
        let out = env.get(input);
        assert_not_found(&out);
        assert!(
            stderr(&out).is_empty(),
            "{input}: non-ECR hosts are answered silently: {}",
            stderr(&out)
        );
    }
    for input in [
        "https://evil.example.com@123456789012.dkr.ecr.us-west-2.amazonaws.com",
        "https://123456789012.dkr.ecr.us-west-2.amazonaws.com@evil.example.com",
        "https://",
    ] {
        let out = env.get(input);
        assert_not_found(&out);
        assert!(
            !stderr(&out).is_empty(),
            "{input}: malformed input is explained"
        );
    }
    assert_eq!(env.aws.total(), 0);
}

#[test]
fn list_shows_cached_registries_without_network() {
    let env = TestEnv::new();
    env.get_ok("111111111111.dkr.ecr.us-west-2.amazonaws.com");
    env.get_ok("222222222222.dkr.ecr.us-west-2.amazonaws.com");
    env.get_ok("public.ecr.aws");
    let calls = env.aws.total();
    let out = env.run(&["list"], b"unused");
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "https://111111111111.dkr.ecr.us-west-2.amazonaws.com": "AWS",
            "https://222222222222.dkr.ecr.us-west-2.amazonaws.com": "AWS",
            "https://123456789012.dkr.ecr.us-west-2.amazonaws.com": "AWS",
            "https://public.ecr.aws": "AWS",
        }),
        "the cached hosts, and the registry AWS named with the token"
    );
    assert_eq!(env.aws.total(), calls);
    // Another identity sees none of these: its cold list fetches its own default registries.
    let mut other = env.vars.clone();
    other.insert("AWS_ACCESS_KEY_ID".into(), "AKIAOTHEROTHEROTHER1".into());
    let out = env
        .command(&["list"])
        .env_clear()
        .envs(&other)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v, serde_json::json!({"https://public.ecr.aws": "AWS"}));
    assert_eq!(env.aws.total(), calls + 1);
}

/// The legacy builder, the Docker SDK for Python and docker-compose v1 `get` only what `list`
/// names: on a cold cache it must name the caller's default registry and ECR Public, as the
/// Go helper does, and then serve them (and the `get`s that follow) from the cache.
#[test]
fn list_on_a_cold_cache_fetches_the_default_registries() {
    let mut env = TestEnv::new();
    env.set("AWS_REGION", "eu-west-1");
    let expected = serde_json::json!({
        "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com": "AWS",
        "https://public.ecr.aws": "AWS",
    });
    let out = env.run(&["list"], b"unused");
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v, expected);
    assert_eq!((env.aws.count("ecr"), env.aws.count("ecr-public")), (1, 1));
    assert!(
        env.aws
            .calls()
            .iter()
            .any(|c| c.service == "ecr" && c.region == "eu-west-1"),
        "the private token comes from the configured region"
    );
    let secret = env.get_ok("123456789012.dkr.ecr.eu-west-1.amazonaws.com")["Secret"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!stdout(&out).contains(&secret), "list printed a secret");
    env.get_ok("public.ecr.aws");
    // Warm: the same answer, and neither list nor the gets called AWS again.
    let out = env.run(&["list"], b"unused");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v, expected);
    assert_eq!(env.aws.total(), 2);

    // The region from the profile when the environment names none.
    let mut env = TestEnv::new();
    env.write_file("home/.aws/config", "[default]\nregion = ap-south-1\n");
    let out = env.run(&["list"], b"unused");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["https://123456789012.dkr.ecr.ap-south-1.amazonaws.com"], "AWS",
        "{v}"
    );

    // Without AWS credentials: an empty list, exit 0 (those clients abort a build when list
    // fails), and nothing on stderr (a credsStore user need not use ECR at all).
    env.unset("AWS_ACCESS_KEY_ID")
        .unset("AWS_SECRET_ACCESS_KEY");
    env.set("AWS_ECR_CACHE_DIR", path_str(&env.dir.path().join("cold")));
    let calls = env.aws.total();
    let out = env.run(&["list"], b"unused");
    assert!(out.status.success());
    assert_eq!(stdout(&out).trim(), "{}");
    assert_eq!(stderr(&out), "");
    assert_eq!(env.aws.total(), calls);

    // AWS refusing: still exit 0, and stderr says why.
    let env = TestEnv::new();
    env.aws.always(Reply::AccessDenied);
    let out = env.run(&["list"], b"unused");
    assert!(out.status.success());
    assert_eq!(stdout(&out).trim(), "{}");
    assert!(stderr(&out).contains("access denied"), "{}", stderr(&out));
}

/// Registries Docker's config routes to us are listed without any AWS call; other helpers'
/// entries, non-ECR hosts and a config that is not a regular file are not.
#[test]
fn list_names_registries_routed_by_cred_helpers() {
    let env = TestEnv::new();
    env.write_file(
        "home/.docker/config.json",
        r#"{"credsStore": "ecr-login", "credHelpers": {
            "111111111111.dkr.ecr.us-west-2.amazonaws.com": "ecr-login",
            "222222222222.dkr.ecr.eu-west-1.amazonaws.com:443": "ecr-login",
            "333333333333.dkr.ecr.us-east-1.amazonaws.com": "other",
            "registry.example.com": "ecr-login",
            "public.ecr.aws": "ecr-login"
        }}"#,
    );
    let out = env.run(&["list"], b"unused");
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "https://111111111111.dkr.ecr.us-west-2.amazonaws.com": "AWS",
            "https://222222222222.dkr.ecr.eu-west-1.amazonaws.com:443": "AWS",
            "https://public.ecr.aws": "AWS",
        })
    );
    assert_eq!(
        env.aws.total(),
        0,
        "routed registries need no token to list"
    );

    // A config.json larger than any real one is not read whole: a warning, and the default.
    let config = env.home().join(".docker/config.json");
    let mut huge = String::from(
        r#"{"credHelpers": {"111111111111.dkr.ecr.us-west-2.amazonaws.com": "ecr-login"}, "pad": ""#,
    );
    huge.push_str(&"x".repeat(5 << 20));
    huge.push_str("\"}");
    std::fs::write(&config, huge).unwrap();
    let out = env.run(&["list"], b"unused");
    assert!(out.status.success());
    assert!(stderr(&out).contains("larger than"), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v, serde_json::json!({"https://public.ecr.aws": "AWS"}));

    // A FIFO in place of config.json: no hang, a warning, and the cold-cache default.
    std::fs::remove_file(&config).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&config)
        .status()
        .unwrap();
    assert!(made.success());
    let out = env.run(&["list"], b"unused");
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("not a regular file"),
        "{}",
        stderr(&out)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v, serde_json::json!({"https://public.ecr.aws": "AWS"}));
}

#[test]
fn store_and_erase() {
    let mut env = TestEnv::new();
    let store = |url: &str| {
        serde_json::json!({"ServerURL": url, "Username": "AWS", "Secret": "typed-secret"})
            .to_string()
    };
    // ECR hosts: success, stdout empty, and stderr says the password is not kept.
    for url in [
        "123456789012.dkr.ecr.us-west-2.amazonaws.com",
        "https://public.ecr.aws",
    ] {
        let out = env.run(&["store"], store(url).as_bytes());
        assert!(out.status.success(), "store {url}: {}", stdout(&out));
        assert!(out.stdout.is_empty());
        assert!(stderr(&out).contains("not kept"), "{}", stderr(&out));
        assert!(!stderr(&out).contains("typed-secret"));
        // `docker logout` erases four spellings; the note comes with the `https://` one.
        let host = url.trim_start_matches("https://");
        for (spelling, noted) in [
            (host.to_string(), false),
            (format!("http://{host}"), false),
            (format!("https://{host}"), true),
        ] {
            let out = env.run(&["erase"], spelling.as_bytes());
            assert!(out.status.success(), "erase {spelling}: {}", stdout(&out));
            assert!(out.stdout.is_empty());
            assert_eq!(
                stderr(&out).contains("nothing to erase"),
                noted,
                "{spelling}: {}",
                stderr(&out)
            );
        }
    }
    // Another registry under credsStore: store fails naming the fix; erase succeeds silently.
    for url in ["registry.example.com", "https://index.docker.io/v1/"] {
        let out = env.run(&["store"], store(url).as_bytes());
        assert_eq!(out.status.code(), Some(1), "store {url}");
        let text = stdout(&out);
        assert!(
            text.contains("credHelpers") && text.contains("configure"),
            "{text}"
        );
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(!text.contains("typed-secret"));
        let out = env.run(&["erase"], url.as_bytes());
        assert!(out.status.success(), "erase {url}");
        assert!(out.stdout.is_empty() && out.stderr.is_empty());
    }
    let out = env.run(&["store"], br#"{"Username":"AWS"}"#);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out).trim_end(), "no credentials server URL");
    // An [[alias]] of an ECR registry is one too.
    let config = env.write_file(
        "ecr-config.toml",
        "[[alias]]\nhost = \"registry.example.com\"\nregistry = \"123456789012.dkr.ecr.eu-west-1.amazonaws.com\"\n",
    );
    env.set("AWS_ECR_CONFIG", path_str(&config));
    let out = env.run(&["store"], store("registry.example.com").as_bytes());
    assert!(out.status.success(), "{}", stdout(&out));

    env.set("AWS_ECR_IGNORE_CREDS_STORAGE", "true");
    for url in [
        "registry.example.com",
        "other.example.com",
        "public.ecr.aws",
    ] {
        for (action, input) in [("store", store(url)), ("erase", url.to_string())] {
            let out = env.run(&[action], input.as_bytes());
            assert!(out.status.success(), "{action} {url}");
            assert!(
                out.stdout.is_empty() && out.stderr.is_empty(),
                "{action} {url}"
            );
        }
    }
    let out = env.run(&["store"], b"{not json");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(env.aws.total(), 0);
}

#[test]
fn version_and_usage() {
    let env = TestEnv::new();
    for arg in ["version", "--version"] {
        let out = env.run(&[arg], b"");
        assert!(out.status.success());
        assert!(
            stdout(&out).contains(env!("CARGO_PKG_VERSION")),
            "{}",
            stdout(&out)
        );
    }
    for args in [&["bogus"][..], &[], &["get", "extra"]] {
        let out = env.run(args, b"");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr(&out).contains("usage"), "{args:?}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn identities_never_share_a_token() {
    let mut env = TestEnv::new();
    let a = env.get_ok(PRIVATE);
    env.set("AWS_ACCESS_KEY_ID", "AKIAOTHEROTHEROTHER1");
    let b = env.get_ok(PRIVATE);
    assert_ne!(a["Secret"], b["Secret"]);
    assert_eq!(env.aws.count("ecr"), 2);
    env.set("AWS_ACCESS_KEY_ID", ACCESS_KEY);
    assert_eq!(env.get_ok(PRIVATE)["Secret"], a["Secret"]);
    assert_eq!(env.aws.count("ecr"), 2);
}

#[test]
fn profiles_key_the_cache() {
    let mut env = TestEnv::new();
    env.unset("AWS_ACCESS_KEY_ID")
        .unset("AWS_SECRET_ACCESS_KEY");
    env.write_file(
        "home/.aws/credentials",
        "[dev]\naws_access_key_id = AKIADEVDEVDEVDEV0001\naws_secret_access_key = devsecret\n\
         [prod]\naws_access_key_id = AKIAPRODPRODPROD0001\naws_secret_access_key = prodsecret\n",
    );
    env.set("AWS_PROFILE", "dev");
    let dev = env.get_ok(PRIVATE);
    env.set("AWS_PROFILE", "prod");
    let prod = env.get_ok(PRIVATE);
    assert_ne!(dev["Secret"], prod["Secret"]);
    let keys: Vec<String> = env.aws.calls().into_iter().map(|c| c.access_key).collect();
    assert_eq!(keys, ["AKIADEVDEVDEVDEV0001", "AKIAPRODPRODPROD0001"]);
    env.set("AWS_PROFILE", "dev");
    assert_eq!(env.get_ok(PRIVATE)["Secret"], dev["Secret"]);
    assert_eq!(env.aws.total(), 2);
}

#[test]
fn disabled_cache_fetches_every_time() {
    let mut env = TestEnv::new();
    env.set("AWS_ECR_DISABLE_CACHE", "1");
    env.get_ok(PRIVATE);
    env.get_ok(PRIVATE);
    assert_eq!(env.aws.count("ecr"), 2);
    assert!(env.record_files().is_empty());
}

// Without HOME the home comes from the password database, which a test must not reach
// outside a namespace: edges::without_home_or_a_password_entry_* covers "no home at all".

#[test]
fn uncreatable_cache_dir_still_serves() {
    let mut env = TestEnv::new();
    let blocker = env.write_file("blocker", "a file, not a directory");
    env.set("AWS_ECR_CACHE_DIR", path_str(&blocker.join("cache")));
    env.get_ok(PRIVATE);
}

#[test]
fn no_credentials_is_explained() {
    let mut env = TestEnv::new();
    env.unset("AWS_ACCESS_KEY_ID")
        .unset("AWS_SECRET_ACCESS_KEY");
    let out = env.get(PRIVATE);
    assert_not_found(&out);
    assert!(
        stderr(&out).contains("no AWS credentials"),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.aws.total(), 0);
}

#[test]
fn access_denied_is_explained_and_not_retried() {
    let env = TestEnv::new();
    env.aws.always(Reply::AccessDenied);
    let out = env.get(PRIVATE);
    assert_not_found(&out);
    let err = stderr(&out);
    assert!(
        err.contains("access denied") && err.contains(fake_aws::IAM_MESSAGE),
        "{err}"
    );
    assert_eq!(env.aws.count("ecr"), 1);
}

#[test]
fn throttling_and_server_errors_are_retried() {
    let env = TestEnv::new();
    env.aws.script([Reply::Throttle, Reply::Throttle]);
    env.get_ok(PRIVATE);
    assert_eq!(env.aws.count("ecr"), 3);

    let env = TestEnv::new();
    env.aws.script([Reply::ServerError, Reply::ServerError]);
    env.get_ok(PRIVATE);
    assert_eq!(env.aws.count("ecr"), 3);
}

#[test]
fn a_hung_endpoint_fails_in_bounded_time() {
    let mut env = TestEnv::new();
    env.set("AWS_ECR_TIMEOUT", "2");
    env.aws.always(Reply::Hang);
    let out = env.get(PRIVATE);
    assert_not_found(&out);
    assert!(stderr(&out).contains("timed out"), "{}", stderr(&out));
}

#[test]
fn malformed_tokens_are_errors() {
    let env = TestEnv::new();
    env.aws.always(Reply::RawToken("bm90LWEtdG9rZW4=".into()));
    let out = env.get(PRIVATE);
    assert_not_found(&out);
    assert!(
        stderr(&out).contains("unusable authorization token"),
        "{}",
        stderr(&out)
    );
}

/// Rewrites every cached entry's times, as if the clock had moved.
#[test]
fn half_life_triggers_refresh() {
    let env = TestEnv::new();
    let first = env.get_ok(PRIVATE);
    env.age_cache(now() - 7.0 * 3600.0, now() + 5.0 * 3600.0);
    // Served at once from the cache, and refreshed in the background.
    let second = env.get_ok(PRIVATE);
    assert_eq!(first["Secret"], second["Secret"]);
    env.wait_for_refresh(&first["Secret"]);
    let third = env.get_ok(PRIVATE);
    assert_ne!(first["Secret"], third["Secret"]);
    assert_eq!(env.aws.count("ecr"), 2);
}

#[test]
fn half_life_triggers_an_inline_refresh_when_asked() {
    let mut env = TestEnv::new();
    env.set("AWS_ECR_REFRESH", "inline");
    let first = env.get_ok(PRIVATE);
    env.age_cache(now() - 7.0 * 3600.0, now() + 5.0 * 3600.0);
    let second = env.get_ok(PRIVATE);
    assert_ne!(first["Secret"], second["Secret"]);
    assert_eq!(env.aws.count("ecr"), 2);
}

#[test]
fn failed_refresh_serves_a_valid_cached_token_with_a_warning() {
    let mut env = TestEnv::new();
    // Inline, so that the refresh's warning reaches this get's stderr.
    env.set("AWS_ECR_REFRESH", "inline");
    let first = env.get_ok(PRIVATE);
    env.age_cache(now() - 7.0 * 3600.0, now() + 5.0 * 3600.0);
    env.aws.always(Reply::AccessDenied);
    let out = env.get(PRIVATE);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["Secret"], first["Secret"]);
    assert!(
        stderr(&out).contains("refreshing the token failed"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn expired_tokens_are_never_served() {
    let env = TestEnv::new();
    env.get_ok(PRIVATE);
    env.age_cache(now() - 100.0, now() - 1.0);
    env.aws.always(Reply::ServerError);
    let out = env.get(PRIVATE);
    assert_not_found(&out);
}

#[test]
fn a_token_expired_on_arrival_is_refused_and_remembered() {
    let env = TestEnv::new();
    env.aws.set_lifetime(Duration::from_millis(1));
    for _ in 0..3 {
        let out = env.get(PRIVATE);
        assert_not_found(&out);
        assert!(stderr(&out).contains("already expired"), "{}", stderr(&out));
    }
    // Refused, and remembered: asking again at once would only get another dead token.
    assert_eq!(env.aws.count("ecr"), 1);
}

#[test]
fn corrupt_cache_files_heal() {
    let env = TestEnv::new();
    env.get_ok(PRIVATE);
    for junk in [
        "",
        "garbage",
        "{\"version\":1,\"entries\":",
        "[1,2,3]",
        "{\"version\":1,\"entries\":{\"x\":1}}",
    ] {
        std::fs::write(env.cache_file(), junk).unwrap();
        let before = env.aws.total();
        env.get_ok(PRIVATE);
        assert_eq!(env.aws.total(), before + 1, "{junk:?}");
        env.get_ok(PRIVATE);
        assert_eq!(env.aws.total(), before + 1, "{junk:?}: cache not healed");
    }
}

#[test]
fn concurrent_cold_gets_make_one_call() {
    let env = TestEnv::new();
    env.aws.set_delay(Duration::from_millis(500));
    let children = env.spawn_herd(16, PRIVATE);
    let secrets: std::collections::BTreeSet<String> = children
        .into_iter()
        .map(|c| {
            let out = c.join().unwrap();
            assert!(out.status.success(), "{}", stderr(&out));
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            v["Secret"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(secrets.len(), 1);
    assert_eq!(env.aws.count("ecr"), 1);
}

#[test]
fn a_killed_refresher_does_not_block_the_next_call() {
    let env = TestEnv::new();
    env.aws.set_delay(Duration::from_secs(30));
    let mut child = env.spawn_get(PRIVATE);
    env.aws.wait_for_calls(1, Duration::from_secs(30));
    child.kill().unwrap(); // SIGKILL, while it holds the refresh lock
    child.wait().unwrap();
    env.aws.set_delay(Duration::ZERO);
    env.get_ok(PRIVATE);
    assert_eq!(env.aws.count("ecr"), 2);
}

#[test]
fn a_token_due_for_refresh_is_served_while_another_process_refreshes() {
    let env = TestEnv::new();
    let old = env.get_ok(PRIVATE);
    env.age_cache(now() - 7.0 * 3600.0, now() + 5.0 * 3600.0);
    // One process refreshes and holds the refresh lock while the endpoint is slow.
    env.aws.set_delay(Duration::from_secs(30));
    let mut refresher = env.spawn_get(PRIVATE);
    env.aws.wait_for_calls(2, Duration::from_secs(30));
    // Another get does not wait for it: the old token is still valid for hours.
    let meanwhile = env.get_ok(PRIVATE);
    assert_eq!(meanwhile["Secret"], old["Secret"]);
    assert_eq!(env.aws.count("ecr"), 2, "the second get must not call AWS");
    refresher.kill().unwrap();
    refresher.wait().unwrap();
}

#[test]
fn list_keeps_registries_across_a_refresh() {
    let env = TestEnv::new();
    env.get_ok("111111111111.dkr.ecr.us-west-2.amazonaws.com");
    env.get_ok("222222222222.dkr.ecr.us-west-2.amazonaws.com");
    env.age_cache(now() - 7.0 * 3600.0, now() + 5.0 * 3600.0);
    let served = env.get_ok("111111111111.dkr.ecr.us-west-2.amazonaws.com");
    env.wait_for_refresh(&served["Secret"]);
    assert_eq!(env.aws.count("ecr"), 2, "the aged entry was refreshed");
    let out = env.run(&["list"], b"unused");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "https://111111111111.dkr.ecr.us-west-2.amazonaws.com": "AWS",
            "https://222222222222.dkr.ecr.us-west-2.amazonaws.com": "AWS",
            // The registry AWS names with the token (the fake's account).
            "https://123456789012.dkr.ecr.us-west-2.amazonaws.com": "AWS",
        })
    );
}
