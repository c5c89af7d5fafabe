//! Property-based fuzzing (proptest, on the stable toolchain) of the two readers of untrusted
//! bytes: the server-URL parser, which decides who gets a token, and the cache-file reader.
//!
//! `cargo test` runs each property for proptest's default case count (`PROPTEST_CASES`
//! changes it). `ECR_LOGIN_FUZZ_SECONDS=N` repeats the properties with fresh seeds for about N
//! seconds of wall time in all (CI: 60); for a long run by hand:
//! `ECR_LOGIN_FUZZ_SECONDS=3600 cargo test --release --test fuzz -- --nocapture`.

use ecr_login::for_fuzz::Secret;
use ecr_login::for_fuzz::cache::{self, Cache, Entry};
use ecr_login::for_fuzz::registry::{self, EcrHost, Registry};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::fmt::Debug;
use std::time::{Duration, Instant};

/// How many `fuzz` calls this file makes; they share the budget.
const PROPERTIES: u32 = 8;

/// One property's share of `ECR_LOGIN_FUZZ_SECONDS`, which bounds the whole run's wall time:
/// the test harness runs as many properties at once as it has threads.
fn budget() -> Option<Duration> {
    let total = std::env::var("ECR_LOGIN_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)?;
    let threads = std::env::var("RUST_TEST_THREADS")
        .ok()
        .and_then(|t| t.parse::<u32>().ok())
        .or_else(|| {
            std::thread::available_parallelism()
                .ok()
                .map(|n| n.get() as u32)
        })
        .unwrap_or(1)
        .clamp(1, PROPERTIES);
    Some(Duration::from_secs_f64(
        total * f64::from(threads) / f64::from(PROPERTIES),
    ))
}

/// Runs `test` on values from `strategy`: one proptest run, or runs with fresh seeds until the
/// budget is spent. `divisor` scales the case count down for properties that touch the disk.
fn fuzz<S>(
    name: &str,
    divisor: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S: Strategy,
    S::Value: Debug,
{
    let defaults = Config::default(); // honours PROPTEST_CASES
    let config = Config {
        cases: (defaults.cases / divisor).max(1),
        failure_persistence: None,
        ..defaults
    };
    let started = Instant::now();
    let mut cases = 0u64;
    loop {
        let mut runner = TestRunner::new(config.clone());
        if let Err(e) = runner.run(&strategy, &test) {
            panic!("{name}: {e}");
        }
        cases += u64::from(config.cases);
        match budget() {
            Some(b) if started.elapsed() < b => continue,
            _ => break,
        }
    }
    eprintln!("{name}: {cases} cases in {:.1?}", started.elapsed());
}

// ---- server URLs ----

const ECR_HOST: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com";

/// What a client connects to for `input`: the URL parser's host, with `https://` assumed.
fn client_host(input: &str) -> Option<String> {
    let input = input.trim();
    let full = if input.contains("://") {
        input.to_string()
    } else {
        format!("https://{input}")
    };
    let url = url::Url::parse(&full).ok()?;
    if !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    url.host_str().map(|h| h.to_ascii_lowercase())
}

/// What a plain textual split reads as the host: after the scheme, up to `/?#`, before `:`.
fn naive_host(input: &str) -> String {
    let input = input.trim();
    let rest = input.split_once("://").map_or(input, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    authority
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// The invariants of an accepted server URL: the token goes to an ECR host that both a URL
/// parser and a textual reading agree on.
fn check_accepted(input: &str, host: &EcrHost) -> Result<(), TestCaseError> {
    let classified = registry::classify(&host.host);
    prop_assert_eq!(
        classified.as_ref(),
        Some(&host.registry),
        "accepted host is not in the table"
    );
    let client = client_host(input);
    prop_assert_eq!(
        client.as_deref(),
        Some(host.host.as_str()),
        "a client would connect elsewhere"
    );
    prop_assert_eq!(
        naive_host(input),
        host.host.clone(),
        "a textual reading disagrees"
    );
    prop_assert!(
        !input
            .trim()
            .chars()
            .any(|c| c.is_control() || c.is_whitespace()),
        "accepted control characters"
    );
    Ok(())
}

fn check_any(input: &str) -> Result<(), TestCaseError> {
    if let Ok(host) = registry::parse_server_url(input) {
        check_accepted(input, &host)?;
    }
    Ok(())
}

/// Pieces of server URLs, hostile and not, for composing.
fn url_pieces() -> impl Strategy<Value = Vec<String>> {
    let piece = prop_oneof![
        Just(ECR_HOST.to_string()),
        Just("public.ecr.aws".to_string()),
        Just("123456789012.dkr-ecr.us-west-2.on.aws".to_string()),
        Just("evil.example.com".to_string()),
        Just("https://".to_string()),
        Just("http://".to_string()),
        Just("//".to_string()),
        Just(":443".to_string()),
        Just(":".to_string()),
        Just("@".to_string()),
        Just("\\".to_string()),
        Just("/".to_string()),
        Just("#".to_string()),
        Just("?".to_string()),
        Just(".".to_string()),
        Just("%2e".to_string()),
        Just("%40".to_string()),
        Just("%00".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("::1".to_string()),
        Just("\u{ff0e}".to_string()),
        Just("\u{3002}".to_string()),
        Just("\r\n".to_string()),
        Just("\0".to_string()),
        Just(" ".to_string()),
        "[a-zA-Z0-9.:/@%-]{1,12}",
        any::<String>(),
    ];
    prop::collection::vec(piece, 1..6)
}

#[test]
fn server_url_parser_never_misleads() {
    fuzz("server URL: composed pieces", 1, url_pieces(), |pieces| {
        check_any(&pieces.concat())
    });
    fuzz("server URL: any string", 1, any::<String>(), |s| {
        check_any(&s)
    });
    fuzz(
        "server URL: any bytes",
        1,
        prop::collection::vec(any::<u8>(), 0..300),
        |b| check_any(&String::from_utf8_lossy(&b)),
    );
}

const REGIONS: &[&str] = &[
    "us-east-1",
    "us-west-2",
    "eu-central-1",
    "ap-southeast-4",
    "cn-north-1",
    "us-gov-west-1",
    "us-isof-south-1",
    "eusc-de-east-1",
];

/// The DNS suffixes under which `region`'s registries are named.
fn suffixes_of(region: &str) -> &'static [&'static str] {
    match region.split('-').next() {
        Some("cn") => &["amazonaws.com.cn", "on.amazonwebservices.com.cn"],
        Some("eusc") => &["amazonaws.eu"],
        _ if region.starts_with("us-isof-") => &["csp.hci.ic.gov"],
        _ => &["amazonaws.com", "on.aws"],
    }
}

/// A region named under another partition's suffix is no registry.
#[test]
fn regions_under_another_partitions_suffix_are_refused() {
    let strategy = (
        prop::sample::select(REGIONS.to_vec()),
        prop::sample::select(vec![
            "amazonaws.com",
            "amazonaws.com.cn",
            "on.aws",
            "amazonaws.eu",
            "csp.hci.ic.gov",
            "on.amazonwebservices.com.cn",
        ]),
    );
    fuzz("server URL: partitions", 1, strategy, |(region, suffix)| {
        let host = format!("123456789012.dkr.ecr.{region}.{suffix}");
        let accepted = registry::parse_server_url(&host).is_ok();
        prop_assert_eq!(accepted, suffixes_of(region).contains(&suffix), "{}", host);
        Ok(())
    });
}

/// Every documented form of a well-formed ECR server URL is accepted, with the right meaning.
#[test]
fn every_documented_form_is_accepted() {
    let strategy = (
        prop::sample::select(vec!["", "https://", "http://", "HTTPS://"]),
        "[0-9]{12}",
        prop::sample::select(vec!["dkr.ecr", "dkr.ecr-fips", "dkr-ecr", "dkr-ecr-fips"]),
        prop::sample::select(REGIONS.to_vec()).prop_flat_map(|region| {
            (
                Just(region),
                prop::sample::select(suffixes_of(region).to_vec()),
            )
        }),
        prop::option::of(Just(443u16)),
        prop::sample::select(vec![
            "",
            "/",
            "/v2/",
            "/v2/team/app/manifests/latest",
            "/team/app",
        ]),
        any::<bool>(),
        prop::sample::select(vec!["", "\n", " \n", "\t"]),
    );
    fuzz(
        "server URL: documented forms",
        1,
        strategy,
        |(scheme, account, service, (region, suffix), port, path, upper, trailing)| {
            let host = format!("{account}.{service}.{region}.{suffix}");
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let mut input = format!("{scheme}{host}{port}{path}{trailing}");
            if upper {
                input = input.to_uppercase();
            }
            let parsed = registry::parse_server_url(&input)
                .map_err(|e| TestCaseError::fail(format!("{input:?} refused: {e}")))?;
            check_accepted(&input, &parsed)?;
            let Registry::Private(p) = &parsed.registry else {
                return Err(TestCaseError::fail("not private"));
            };
            prop_assert_eq!(&p.account, &account);
            prop_assert_eq!(p.region.as_str(), region);
            prop_assert_eq!(p.fips, service.ends_with("fips"));
            prop_assert_eq!(p.dual_stack, service.starts_with("dkr-ecr"));
            Ok(())
        },
    );
}

// ---- the cache file ----

fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![
        -1e12f64..1e12,
        0.0f64..4e9,
        proptest::num::f64::NORMAL | proptest::num::f64::ZERO | proptest::num::f64::SUBNORMAL,
    ]
}

fn entry() -> impl Strategy<Value = Entry> {
    (
        "[A-Za-z0-9]{0,8}",
        any::<String>(),
        finite(),
        finite(),
        prop::collection::vec(any::<String>(), 0..3),
        prop::option::of(any::<String>()),
    )
        .prop_map(
            |(username, password, issued_at, expires_at, hosts, proxy_endpoint)| Entry {
                username,
                password: Secret::new(password),
                issued_at,
                expires_at,
                hosts,
                proxy_endpoint,
            },
        )
}

/// A cache record as the store writes it.
fn record_json(key: &str, entry: &Entry) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"version": 3, "key": key, "entry": entry})).unwrap()
}

/// The expiry rules hold for any times a file can hold: never fresh or usable once expired.
fn check_expiry(entry: &Entry, now: f64) -> Result<(), TestCaseError> {
    if entry.is_fresh(now) {
        prop_assert!(
            now < entry.expires_at,
            "fresh after expiry: {:?} at {}",
            entry,
            now
        );
    }
    if entry.is_usable(now) {
        prop_assert!(
            now < entry.expires_at,
            "usable after expiry: {:?} at {}",
            entry,
            now
        );
    }
    Ok(())
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= a.abs().max(b.abs()) * 1e-12
}

#[test]
fn cache_reader_takes_any_bytes() {
    fuzz(
        "cache record: any bytes",
        1,
        prop::collection::vec(any::<u8>(), 0..1024),
        |bytes| {
            let _ = cache::parse_record(&bytes);
            Ok(())
        },
    );
    // Valid records, cut, flipped, or with bytes inserted: parsed or refused, never a panic,
    // and whatever parses still obeys the expiry rules.
    let damaged = (
        "[a-z0-9/:]{1,20}",
        entry(),
        any::<prop::sample::Index>(),
        any::<u8>(),
        0u8..3,
        finite(),
    );
    fuzz(
        "cache record: damaged",
        1,
        damaged,
        |(key, entry, at, byte, how, now)| {
            let mut bytes = record_json(&key, &entry);
            let i = at.index(bytes.len());
            match how {
                0 => bytes.truncate(i),
                1 => bytes[i] ^= byte.max(1),
                _ => bytes.insert(i, byte),
            }
            if let Some((_, Some(e))) = cache::parse_record(&bytes) {
                check_expiry(&e, now)?;
            }
            Ok(())
        },
    );
}

#[test]
fn cache_reader_round_trips_and_obeys_expiry() {
    let strategy = (any::<String>(), entry(), finite());
    fuzz(
        "cache record: round trip",
        1,
        strategy,
        |(key, want, now)| {
            let (got_key, got) = cache::parse_record(&record_json(&key, &want))
                .ok_or_else(|| TestCaseError::fail("a valid record was refused"))?;
            prop_assert_eq!(&got_key, &key);
            let got = got.ok_or_else(|| TestCaseError::fail("the entry was lost"))?;
            prop_assert_eq!(&got.username, &want.username);
            prop_assert_eq!(got.password.expose(), want.password.expose());
            prop_assert_eq!(&got.hosts, &want.hosts);
            prop_assert!(close(got.issued_at, want.issued_at));
            prop_assert!(close(got.expires_at, want.expires_at));
            check_expiry(&got, now)?;
            Ok(())
        },
    );
}

/// Through the real file path: whatever the file holds, a lookup does not panic, and a store
/// afterwards leaves a file that serves what was stored.
#[test]
fn cache_file_on_disk_heals() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path().join("cache"));
    let strategy = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        ("[a-z]{1,3}", entry()).prop_map(|(k, e)| record_json(&k, &e)),
        entry().prop_map(|e| record_json("k", &e)),
    ];
    let far = || Instant::now() + Duration::from_secs(10);
    fuzz("cache file: on disk", 8, strategy, |bytes| {
        // A first store makes the directory; then the file is replaced by the bytes.
        let fresh = Entry {
            username: "AWS".into(),
            password: Secret::new("pw"),
            issued_at: cache::now(),
            expires_at: cache::now() + 3600.0,
            hosts: vec![],
            proxy_endpoint: None,
        };
        cache.store("k", fresh.clone(), far()).unwrap();
        std::fs::write(cache.record_path("k").unwrap(), &bytes).unwrap();
        let _ = cache.lookup("k");
        let _ = cache.entries_with_prefix("");
        cache
            .store("k", fresh.clone(), far())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let got = cache
            .lookup("k")
            .ok_or_else(|| TestCaseError::fail("the stored entry is gone"))?;
        // Times come back within an ulp: serde_json's float parser is not exact.
        prop_assert!(close(got.expires_at, fresh.expires_at));
        prop_assert_eq!(got.password.expose(), "pw");
        Ok(())
    });
}
