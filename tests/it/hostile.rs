//! Hostile and broken input: every case ends with exit 1, a clear message, no panic, no API call
//! and nothing on stdout but the protocol's answer. Run with `--nocapture` to see how long each
//! case took (reported in docs/hardening.md; not asserted).

use crate::support;

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::process::Output;
use std::time::{Duration, Instant};
use support::*;

const PRIVATE: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com";
const TEN_MIB: usize = 10 << 20;

/// Deterministic noise (xorshift), so a failure can be replayed.
fn random_bytes(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

struct Timing(Vec<(String, Duration)>);

impl Timing {
    fn report(&self, what: &str) {
        let slowest = self.0.iter().max_by_key(|(_, d)| *d).unwrap();
        let mut sorted: Vec<Duration> = self.0.iter().map(|(_, d)| *d).collect();
        sorted.sort();
        eprintln!(
            "{what}: {} cases, median {:.1?}, slowest {:.1?} ({})",
            self.0.len(),
            sorted[sorted.len() / 2],
            slowest.1,
            slowest.0.chars().take(40).collect::<String>()
        );
    }
}

fn timed(env: &TestEnv, args: &[OsString], stdin: &[u8]) -> (Output, Duration) {
    let mut cmd = std::process::Command::new(bin());
    cmd.args(args).env_clear().envs(&env.vars);
    let started = Instant::now();
    // Bounded: a hang fails the test instead of stalling it.
    let out = run_bounded(cmd, stdin, Duration::from_secs(30));
    (out, started.elapsed())
}

fn no_panic(name: &str, out: &Output) {
    assert!(
        !stderr(out).contains("panicked") && !stdout(out).contains("panicked"),
        "{name}: panicked: {}",
        stderr(out)
    );
    assert!(
        out.status.code().is_some(),
        "{name}: killed by a signal: {:?}",
        out.status
    );
}

fn malformed_server_urls() -> Vec<(String, Vec<u8>)> {
    let s = |name: &str, input: &str| (name.to_string(), input.as_bytes().to_vec());
    let mut cases = vec![
        ("10 MiB of stdin".to_string(), vec![b'a'; TEN_MIB]),
        ("a valid host then 10 MiB".to_string(), {
            let mut v = PRIVATE.as_bytes().to_vec();
            v.extend(std::iter::repeat_n(b' ', TEN_MIB));
            v
        }),
        (
            "4 KiB of random bytes".to_string(),
            random_bytes(4096, 0x9e37_79b9_7f4a_7c15),
        ),
        ("invalid UTF-8".to_string(), {
            let mut v = b"\xc3\x28".to_vec();
            v.extend(PRIVATE.as_bytes());
            v
        }),
        ("a lone NUL".to_string(), vec![0]),
        (
            "NUL after a valid host".to_string(),
            format!("{PRIVATE}\0evil.example.com").into_bytes(),
        ),
        (
            "a 5,000-character host".to_string(),
            format!("{}.dkr.ecr.us-west-2.amazonaws.com", "1".repeat(4966)).into_bytes(),
        ),
        // An empty server URL has its own protocol answer: edges::an_empty_server_url_*.
        s("https://", "https://"),
        s("https://:443", "https://:443"),
        s("https://:443/v2/", "https://:443/v2/"),
        s("scheme-relative", &format!("//evil.example.com/{PRIVATE}")),
        s("ftp scheme", &format!("ftp://{PRIVATE}")),
        s(
            "CRLF header injection",
            &format!("{PRIVATE}\r\nHost: evil.example.com"),
        ),
        s(
            "LF then a second host",
            &format!("{PRIVATE}\nevil.example.com"),
        ),
        s(
            "CR then a second host",
            &format!("{PRIVATE}\revil.example.com"),
        ),
        s(
            "CRLF in the path",
            &format!("https://{PRIVATE}/v2/\r\nX: y"),
        ),
        s(
            "percent-encoded CRLF",
            &format!("{PRIVATE}%0d%0aHost:evil.example.com"),
        ),
        s("tab inside", &format!("{PRIVATE}\t.evil.example.com")),
        // A naive reading sees the ECR host, a URL parser connects elsewhere, or the reverse.
        s(
            "ECR host as userinfo",
            &format!("https://{PRIVATE}@evil.example.com"),
        ),
        s(
            "ECR host as userinfo with port",
            &format!("https://{PRIVATE}:443@evil.example.com"),
        ),
        s(
            "evil userinfo before ECR",
            &format!("https://evil.example.com@{PRIVATE}"),
        ),
        s("user and password", &format!("https://AWS:pw@{PRIVATE}")),
        s(
            "backslash userinfo",
            &format!("https://evil.example.com\\@{PRIVATE}"),
        ),
        s(
            "backslash as slash",
            &format!("https://evil.example.com\\{PRIVATE}"),
        ),
        s(
            "backslash in the path",
            &format!("https://{PRIVATE}/v2\\..\\x"),
        ),
        s(
            "encoded dot",
            &format!("https://{PRIVATE}%2eevil.example.com"),
        ),
        s(
            "encoded NUL",
            &format!("https://{PRIVATE}%00.evil.example.com"),
        ),
        s(
            "encoded @",
            &format!("https://{PRIVATE}%40evil.example.com"),
        ),
        s(
            "fullwidth dot",
            &format!("https://{PRIVATE}\u{ff0e}evil.example.com"),
        ),
        s(
            "ideographic dot",
            "https://123456789012\u{3002}dkr.ecr.us-west-2.amazonaws.com",
        ),
        s(
            "Cyrillic a",
            "https://123456789012.dkr.ecr.us-west-2.\u{430}mazonaws.com",
        ),
        s("two ports", &format!("https://{PRIVATE}:443:80")),
        s("port 0", &format!("{PRIVATE}:0")),
        s("port too large", &format!("{PRIVATE}:65536")),
        s("port not a number", &format!("{PRIVATE}:https")),
        s("empty port", &format!("{PRIVATE}:")),
        s("bracketed ECR host", &format!("https://[{PRIVATE}]")),
    ];
    cases.push(("every byte".to_string(), (0u8..=255).collect::<Vec<u8>>()));
    cases
}

/// Well-formed hosts that are simply not ECR, however much ECR text they carry: the silent
/// "not found" a `credsStore` gives every other registry.
fn non_ecr_server_urls() -> Vec<String> {
    vec![
        format!("{PRIVATE}.evil.example.com"),
        format!("https://{PRIVATE}.evil.example.com/v2/"),
        format!("https://evil.example.com/{PRIVATE}"),
        format!("https://evil.example.com/?u=https://{PRIVATE}"),
        format!("https://evil.example.com#{PRIVATE}"),
        format!("evil.example.com/{PRIVATE}"),
        "https://0x7f000001".to_string(),
        "https://[::1]:443/v2/".to_string(),
        "127.0.0.1:443".to_string(),
        format!("{}com", "a.".repeat(1000)),
    ]
}

#[test]
fn get_refuses_hostile_server_urls_with_a_message() {
    let env = TestEnv::new();
    let mut timing = Timing(Vec::new());
    for (name, input) in malformed_server_urls() {
        let (out, took) = timed(&env, &["get".into()], &input);
        timing.0.push((name.clone(), took));
        no_panic(&name, &out);
        assert_eq!(out.status.code(), Some(1), "{name}: {}", stderr(&out));
        assert_eq!(stdout(&out), NOT_FOUND, "{name}: stdout");
        let err = stderr(&out);
        assert!(
            err.starts_with("ecr-login: error: ")
                && err.ends_with('\n')
                && err.lines().count() == 1,
            "{name}: not one clear line: {err:?}"
        );
        assert!(
            err.len() < 400,
            "{name}: the message echoes too much: {} bytes",
            err.len()
        );
        assert_eq!(env.aws.total(), 0, "{name}: an API call was made");
    }
    timing.report("get, malformed server URLs");
}

#[test]
fn get_answers_non_ecr_hosts_silently() {
    let env = TestEnv::new();
    let mut timing = Timing(Vec::new());
    for input in non_ecr_server_urls() {
        let (out, took) = timed(&env, &["get".into()], input.as_bytes());
        timing.0.push((input.clone(), took));
        no_panic(&input, &out);
        assert_not_found(&out);
        assert!(stderr(&out).is_empty(), "{input}: {}", stderr(&out));
    }
    assert_eq!(env.aws.total(), 0);
    timing.report("get, non-ECR hosts carrying ECR text");
}

#[test]
fn store_and_erase_refuse_bad_input() {
    let mut env = TestEnv::new();
    let mut big = br#"{"ServerURL":""#.to_vec();
    big.extend(std::iter::repeat_n(b'x', TEN_MIB));
    big.extend(br#"","Username":"AWS","Secret":"s"}"#);
    let cases: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        (
            "store",
            "invalid JSON",
            b"{not json".to_vec(),
            "not a JSON object",
        ),
        (
            "store",
            "a JSON list",
            b"[1,2]".to_vec(),
            "not a JSON object",
        ),
        (
            "store",
            "a JSON string",
            b"\"x\"".to_vec(),
            "not a JSON object",
        ),
        ("store", "empty", Vec::new(), "not a JSON object"),
        (
            "store",
            "invalid UTF-8",
            b"{\"ServerURL\":\"\xff\"}".to_vec(),
            "not a JSON object",
        ),
        ("store", "NUL bytes", vec![0; 64], "not a JSON object"),
        ("store", "10 MiB", big.clone(), "longer than"),
        ("erase", "10 MiB", vec![b'a'; TEN_MIB], "longer than"),
    ];
    let mut timing = Timing(Vec::new());
    for ignore in [false, true] {
        if ignore {
            env.set("AWS_ECR_IGNORE_CREDS_STORAGE", "true");
        }
        for (action, name, input, message) in &cases {
            let name = format!("{action} {name} (ignore storage: {ignore})");
            let (out, took) = timed(&env, &[(*action).into()], input);
            timing.0.push((name.clone(), took));
            no_panic(&name, &out);
            assert_eq!(out.status.code(), Some(1), "{name}");
            // The protocol puts a helper's error text on stdout: one line.
            let text = stdout(&out);
            assert!(text.contains(message), "{name}: {text:?}");
            assert_eq!(text.lines().count(), 1, "{name}: {text:?}");
            assert!(text.len() < 400, "{name}: echoes too much");
        }
    }
    assert_eq!(env.aws.total(), 0);
    timing.report("store/erase, bad input");
}

#[test]
fn bad_arguments_print_usage() {
    let env = TestEnv::new();
    let cases: Vec<(&str, Vec<OsString>)> = vec![
        ("no action", vec![]),
        ("unknown action", vec!["bogus".into()]),
        ("upper-case action", vec!["GET".into()]),
        ("empty action", vec!["".into()]),
        ("option-like action", vec!["--get".into()]),
        ("a dash", vec!["-".into()]),
        (
            "get with an extra argument",
            vec!["get".into(), "extra".into()],
        ),
        ("get twice", vec!["get".into(), "get".into()]),
        (
            "list with an extra argument",
            vec!["list".into(), "x".into()],
        ),
        (
            "store with an extra argument",
            vec!["store".into(), "x".into()],
        ),
        (
            "a 100,000-character action",
            vec!["g".repeat(100_000).into()],
        ),
        (
            "an action that is not UTF-8",
            vec![OsString::from_vec(b"g\xffet".to_vec())],
        ),
        ("NUL-free control characters", vec!["get\x1b[2J".into()]),
    ];
    let mut timing = Timing(Vec::new());
    for (name, args) in cases {
        let (out, took) = timed(&env, &args, PRIVATE.as_bytes());
        timing.0.push((name.to_string(), took));
        no_panic(name, &out);
        assert_eq!(out.status.code(), Some(1), "{name}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{name}: stdout {:?}", stdout(&out));
        let err = stderr(&out);
        assert!(err.to_lowercase().contains("usage"), "{name}: {err:?}");
        assert!(
            err.len() < 2000,
            "{name}: echoes too much: {} bytes",
            err.len()
        );
    }
    assert_eq!(env.aws.total(), 0);
    timing.report("bad arguments");
}

/// `store` (what `docker login` calls) with server URLs that are not plain hosts: refused with
/// one line that never echoes a password typed into the URL or the request; `erase` of the
/// same succeeds (nothing is stored for them).
#[test]
fn store_refuses_odd_server_urls_without_echoing_secrets() {
    let env = TestEnv::new();
    for url in [
        "https://AWS:typed-secret@evil.example.com",
        "https://AWS:typed-secret@123456789012.dkr.ecr.us-west-2.amazonaws.com",
        "evil.example.com\nmore",
        "https://",
    ] {
        let request =
            serde_json::json!({"ServerURL": url, "Username": "AWS", "Secret": "typed-secret"});
        let out = env.run(&["store"], request.to_string().as_bytes());
        no_panic(url, &out);
        assert_eq!(out.status.code(), Some(1), "{url:?}");
        let text = stdout(&out);
        assert_eq!(text.lines().count(), 1, "{url:?}: {text:?}");
        assert!(!text.contains("typed-secret"), "{url:?}: {text:?}");
        assert!(!stderr(&out).contains("typed-secret"), "{url:?}");
        let out = env.run(&["erase"], url.as_bytes());
        assert!(out.status.success(), "erase {url:?}");
        assert!(
            out.stdout.is_empty() && out.stderr.is_empty(),
            "erase {url:?}"
        );
    }
    assert_eq!(env.aws.total(), 0);
}

/// Runs `cmd` with its stdout a pipe whose reading end is already closed (a consumer that went
/// away: `| head -c0`), bounded by a minute.
fn run_into_a_broken_pipe(mut cmd: std::process::Command, stdin: &[u8]) -> Output {
    use std::io::{Read, Write};
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(writer)
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    drop(cmd);
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("did not finish within a minute");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = writer.join();
    Output {
        status,
        stdout: Vec::new(),
        stderr: reader.join().unwrap(),
    }
}

/// Every front end, with stdout closed (`>&-`) or a pipe nobody reads: exit code 1, never a
/// success that printed nothing, never a panic or an abort.
#[test]
fn a_closed_stdout_is_exit_1_never_an_abort() {
    let env = TestEnv::new();
    let dir = tempfile::tempdir().unwrap();
    let provider = dir.path().join("ecr-credential-provider");
    std::os::unix::fs::symlink(bin(), &provider).unwrap();
    let request = kubelet_request(&format!("{PRIVATE}/app"));
    let cases: Vec<(Vec<&str>, &[u8])> = vec![
        (vec!["get"], PRIVATE.as_bytes()),
        // The same again: a cache hit.
        (vec!["get"], PRIVATE.as_bytes()),
        (vec!["list"], b""),
        (vec!["version"], b""),
        (vec!["-v"], b""),
        (vec!["--version"], b""),
        (vec!["--help"], b""),
        (vec!["help"], b""),
        (vec!["help", "configure"], b""),
        (vec!["get-login-password", "--region", "us-west-2"], b""),
        (vec!["man"], b""),
        (vec!["completions", "bash"], b""),
        (vec!["configure", "--registry", PRIVATE, "--dry-run"], b""),
        (vec!["kubelet"], request.as_bytes()),
        (vec!["kubelet", "--version"], b""),
        (vec!["kubelet", "--help"], b""),
    ];
    for (args, input) in &cases {
        for (how, program) in [
            ("", bin()),
            ("as ecr-credential-provider ", provider.clone()),
        ] {
            if !how.is_empty() && args[0] != "kubelet" {
                continue;
            }
            let args: Vec<&str> = if how.is_empty() {
                args.clone()
            } else {
                args[1..].to_vec()
            };
            let name = format!("{how}{}", args.join(" "));

            let mut closed = std::process::Command::new("sh");
            closed
                .arg("-c")
                .arg("exec \"$0\" \"$@\" >&-")
                .arg(&program)
                .args(&args)
                .env_clear()
                .envs(&env.vars);
            let out = run_bounded(closed, input, Duration::from_secs(60));
            no_panic(&format!("{name} >&-"), &out);
            assert_eq!(
                out.status.code(),
                Some(1),
                "{name} >&-: stderr {}",
                stderr(&out)
            );

            let mut piped = std::process::Command::new(&program);
            piped.args(&args).env_clear().envs(&env.vars);
            let out = run_into_a_broken_pipe(piped, input);
            no_panic(&format!("{name} | (closed)"), &out);
            assert_eq!(
                out.status.code(),
                Some(1),
                "{name} | (closed): stderr {}",
                stderr(&out)
            );
        }
    }
}

/// Our variables with values that are not UTF-8 cannot be used; each is named on stderr
/// rather than silently ignored.
#[test]
fn variables_that_are_not_utf8_are_named() {
    let env = TestEnv::new();
    let mut cmd = env.command(&["get"]);
    cmd.env(
        "AWS_SHARED_CREDENTIALS_FILE",
        OsString::from_vec(b"/tmp/credentials-\xff".to_vec()),
    );
    cmd.env(
        "AWS_ECR_CACHE_DIR",
        OsString::from_vec(b"/tmp/ecr-\xfe".to_vec()),
    );
    let out = run_bounded(cmd, PRIVATE.as_bytes(), Duration::from_secs(60));
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    for name in ["AWS_SHARED_CREDENTIALS_FILE", "AWS_ECR_CACHE_DIR"] {
        assert!(
            err.lines().any(|l| l.starts_with("ecr-login: warning: ")
                && l.contains(name)
                && l.contains("UTF-8")),
            "{name} is not named: {err:?}"
        );
    }
    assert_eq!(err.lines().count(), 1, "warned more than once: {err:?}");
}

/// `get` typed at a terminal says at once what it waits for, instead of 30 silent seconds.
#[test]
fn get_at_a_terminal_says_what_it_reads() {
    use std::io::BufRead;
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty writes two descriptors, which are owned by the Files below.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty");
    let (master, slave) = unsafe {
        (
            std::fs::File::from_raw_fd(master),
            std::fs::File::from_raw_fd(slave),
        )
    };
    let mut env = TestEnv::new();
    env.set("AWS_ECR_TIMEOUT", "40");
    let mut cmd = env.command(&["get"]);
    cmd.stdin(slave)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    drop(cmd);
    let err = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line = rx.recv_timeout(Duration::from_secs(20));
    let still_waiting = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    drop(master);
    let line = line.expect("no hint on stderr while get waited for the terminal");
    assert!(still_waiting, "get ended before the hint: {line}");
    assert!(
        line.starts_with("ecr-login: ")
            && line.contains("Ctrl-D")
            && line.contains("echo HOST | docker-credential-ecr-login get"),
        "{line}"
    );
}

#[test]
fn flags_that_cannot_apply_are_refused() {
    let env = TestEnv::new();
    let out = env.run(
        &["get-login-password", "--public", "--region", "eu-west-1"],
        b"",
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert!(
        err.starts_with("ecr-login: error: ")
            && err.contains("--region")
            && err.contains("us-east-1"),
        "{err:?}"
    );
    assert_eq!(env.aws.total(), 0);
    // The one region ECR Public has is not a contradiction.
    let out = env.run(
        &["get-login-password", "--public", "--region", "us-east-1"],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Every message on stderr carries one prefix: `ecr-login: <level>: `.
#[test]
fn every_message_has_one_prefix() {
    let env = TestEnv::new();
    for args in [
        &["configure"][..],
        &["configure", "--registry", "docker.io"],
        &["configure", "--bogus"],
        &["get-login-password", "--registry", "docker.io"],
        &["get-login-password", "--bogus"],
    ] {
        let out = env.run(args, b"");
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
        let err = stderr(&out);
        assert!(err.starts_with("ecr-login: error: "), "{args:?}: {err:?}");
    }
}

/// A mistyped region is still tried (a new region must work without an upgrade), and when the
/// call fails the error names the region meant.
#[test]
fn get_login_password_names_the_region_meant() {
    let env = TestEnv::new();
    env.aws.always(Reply::AccessDenied);
    let out = env.run(&["get-login-password", "--region", "us-weest-2"], b"");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = stderr(&out);
    assert!(
        err.contains("region us-weest-2 is not an AWS region; did you mean us-west-2?"),
        "{err:?}"
    );
}
