//! Inputs from outside that must never abort, hang or mislead: broken CA bundles and other
//! settings that reach a dependency that panics, `/dev/null` as an empty file, FIFOs and
//! devices, no `HOME`, and an empty server URL. Every front end answers in its protocol, with
//! one line that names what to fix, and never dies by a signal or a panic.

use crate::support;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;
use support::*;

const PRIVATE: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com";
const NO_SERVER_URL: &str = "no credentials server URL";

/// A self-signed CA certificate (P-256), valid until 2126.
const CA: &str = "-----BEGIN CERTIFICATE-----
MIIBmzCCAUGgAwIBAgIUHwRD8Yr1PsGr9wnqtJz2OMm4L0wwCgYIKoZIzj0EAwIw
IjEgMB4GA1UEAwwXZWNyLWxvZ2luIGVkZ2VzIHRlc3QgQ0EwIBcNMjYxMjA2MTAy
MjExWhgPMjEyNjExMTIxMDIyMTFaMCIxIDAeBgNVBAMMF2Vjci1sb2dpbiBlZGdl
cyB0ZXN0IENBMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEJ3UkryLF5o5jimeM
5fy6/0+GVkQNg643zKta1zjFaYYRULNJ/1nsdDDtnwbF90/EXIRcK5Im+VoXCPhu
JFX2QaNTMFEwHQYDVR0OBBYEFE45lugSqzWY3qKJW/PC/yOinew2MB8GA1UdIwQY
MBaAFE45lugSqzWY3qKJW/PC/yOinew2MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZI
zj0EAwIDSAAwRQIhAMzUqJ2ZqX+qkMHfVmyIARTZfzj9cr/vOxh9ezoO+5O7AiAg
WboA3b3EXvnM8/3wSnAmBJIRXRfqpBztZCCprcbw2g==
-----END CERTIFICATE-----
";

/// The CA's public key: well-formed PEM, but no certificate.
const PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEJ3UkryLF5o5jimeM5fy6/0+GVkQN
g643zKta1zjFaYYRULNJ/1nsdDDtnwbF90/EXIRcK5Im+VoXCPhuJFX2QQ==
-----END PUBLIC KEY-----
";

/// The front ends, each driven as its caller drives it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Front {
    Get,
    Kubelet,
    Doctor,
    LoginPassword,
    List,
}

const FRONTS: [Front; 5] = [
    Front::Get,
    Front::Kubelet,
    Front::Doctor,
    Front::LoginPassword,
    Front::List,
];

fn command(env: &TestEnv, front: Front) -> (Command, Vec<u8>) {
    let (args, stdin): (&[&str], Vec<u8>) = match front {
        Front::Get => (&["get"], PRIVATE.as_bytes().to_vec()),
        Front::Kubelet => (
            &["kubelet"],
            kubelet_request(&format!("{PRIVATE}/app:1")).into_bytes(),
        ),
        Front::Doctor => (&["doctor", PRIVATE], Vec::new()),
        Front::LoginPassword => (&["get-login-password", "--registry", PRIVATE], Vec::new()),
        Front::List => (&["list"], b"unused".to_vec()),
    };
    (env.command(args), stdin)
}

/// Runs `front` with at most 4 GiB of address space: a file read without end (`/dev/zero`)
/// fails the test instead of exhausting the machine's memory.
fn run(env: &TestEnv, front: Front) -> Output {
    let (mut cmd, stdin) = command(env, front);
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 4 << 30,
                rlim_max: 4 << 30,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    run_bounded(cmd, &stdin, Duration::from_secs(30))
}

fn no_panic(what: &str, out: &Output) {
    assert!(
        out.status.code().is_some(),
        "{what}: killed by a signal: {:?}; stderr: {}",
        out.status,
        stderr(out)
    );
    assert!(
        !stderr(out).contains("panicked") && !stdout(out).contains("panicked"),
        "{what}: panicked: {}",
        stderr(out)
    );
}

/// `front` refused the call in its protocol, saying `needle` in one line.
fn assert_refused(what: &str, front: Front, out: &Output, needle: &str) {
    no_panic(what, out);
    let (err, text) = (stderr(out), stdout(out));
    let one_line = |s: &str| {
        assert_eq!(s.lines().count(), 1, "{what}: not one line: {s:?}");
        assert!(s.contains(needle), "{what}: {needle:?} not in {s:?}");
    };
    match front {
        Front::Get => {
            assert_eq!(out.status.code(), Some(1), "{what}: {err}");
            assert_eq!(text, NOT_FOUND, "{what}");
            one_line(&err);
        }
        Front::Kubelet | Front::LoginPassword => {
            assert_eq!(out.status.code(), Some(1), "{what}: {err}");
            assert_eq!(text, "", "{what}");
            one_line(&err);
        }
        Front::Doctor => {
            assert_eq!(out.status.code(), Some(1), "{what}: {text}");
            assert!(text.contains(needle), "{what}: {needle:?} not in {text}");
        }
        // The builds that call `list` abort when it fails: it answers, and warns.
        Front::List => {
            assert_eq!(out.status.code(), Some(0), "{what}: {err}");
            assert_eq!(text, "{}\n", "{what}");
            one_line(&err);
        }
    }
}

/// `front` answered with credentials (or, for `list`, an answer) and no warning.
/// Every front end that hands out a token (not doctor) answers with one.
fn assert_every_token_front_served(env: &TestEnv) {
    for front in [
        Front::Get,
        Front::Kubelet,
        Front::LoginPassword,
        Front::List,
    ] {
        let out = run(env, front);
        assert_served(&format!("{front:?}"), front, &out);
    }
}

fn assert_served(what: &str, front: Front, out: &Output) {
    no_panic(what, out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: stdout {} stderr {}",
        stdout(out),
        stderr(out)
    );
    if front != Front::Doctor {
        assert_eq!(stderr(out), "", "{what}");
    }
}

/// Bundles that cannot be trusted as they are, by name.
fn bad_bundles(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    std::fs::create_dir_all(dir).unwrap();
    let lines: Vec<&str> = CA.lines().collect();
    let truncated = lines[..6].join("\n") + "\n";
    let with_nul = CA.replacen("MIIB", "MI\0\0IB", 1);
    let mut noise: Vec<u8> = (0u32..2048)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    noise[100] = 0;
    let not_der = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGUgYXQgYWxs\n-----END CERTIFICATE-----\n";
    let corrupt = "-----BEGIN CERTIFICATE-----\n!!!! not base64 ****\n-----END CERTIFICATE-----\n";
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated mid-certificate", truncated.clone().into_bytes()),
        ("corrupt base64", corrupt.as_bytes().to_vec()),
        ("NUL bytes in a certificate", with_nul.into_bytes()),
        ("binary noise", noise),
        ("empty", Vec::new()),
        (
            "a public key, no certificate",
            PUBLIC_KEY.as_bytes().to_vec(),
        ),
        ("a CERTIFICATE that is not DER", not_der.as_bytes().to_vec()),
        (
            "a good certificate, then a truncated one",
            format!("{CA}{truncated}").into_bytes(),
        ),
    ];
    let mut bundles: Vec<(&str, PathBuf)> = cases
        .into_iter()
        .enumerate()
        .map(|(i, (name, bytes))| {
            let path = dir.join(format!("bundle-{i}.pem"));
            std::fs::write(&path, bytes).unwrap();
            (name, path)
        })
        .collect();
    bundles.push(("missing", dir.join("no-such-bundle.pem")));
    bundles.push(("a directory", dir.to_path_buf()));
    bundles
}

/// A set but broken CA bundle (`AWS_CA_BUNDLE` or a profile's `ca_bundle`) fails every front
/// end with one line that names it and the fix, before any AWS call: likely the proxy's CA is
/// missing, and a TLS error later would not say so. Never an abort.
#[test]
fn a_broken_ca_bundle_fails_every_front_end_with_one_line() {
    let mut env = TestEnv::new();
    env.set("AWS_ECR_DISABLE_CACHE", "1");
    let bundles = bad_bundles(&env.dir.path().join("bundles"));
    for (name, path) in &bundles {
        for via_profile in [false, true] {
            if via_profile {
                env.unset("AWS_CA_BUNDLE");
                std::fs::write(
                    env.home().join(".aws/config"),
                    format!("[default]\nca_bundle = {}\n", path.display()),
                )
                .unwrap();
            } else {
                env.set("AWS_CA_BUNDLE", path_str(path));
                std::fs::write(env.home().join(".aws/config"), "").unwrap();
            }
            let origin = if via_profile {
                format!("ca_bundle = {}", path.display())
            } else {
                format!("AWS_CA_BUNDLE={}", path.display())
            };
            for front in FRONTS {
                let what = format!("{front:?}, {name} via {origin}");
                let out = run(&env, front);
                assert_refused(&what, front, &out, &origin);
                if front != Front::Doctor {
                    assert!(stderr(&out).contains("fix"), "{what}: {}", stderr(&out));
                }
            }
        }
    }
    // Refused before any token call: it could only fail, or go out without the proxy's CA.
    // (doctor's caller-identity check may still ask STS, with the system's CAs only.)
    assert_eq!(env.aws.count("ecr") + env.aws.count("ecr-public"), 0);
}

/// A good bundle is used (the TLS path is tested in drop_in::a_ca_bundle_is_trusted); one with
/// a certificate among other PEM sections (a key, as some proxies ship them) too.
#[test]
fn a_good_ca_bundle_passes_the_check() {
    let mut env = TestEnv::new();
    let bundle = env.write_file("ca.pem", &format!("{PUBLIC_KEY}{CA}"));
    env.set("AWS_CA_BUNDLE", path_str(&bundle));
    assert_every_token_front_served(&env);
}

/// The SDK's loader panics on a retry setting it cannot read (`AWS_MAX_ATTEMPTS=0`, a
/// `retry_mode` it does not know): refused with one line instead.
#[test]
fn bad_retry_settings_are_refused_not_fatal() {
    let mut env = TestEnv::new();
    env.set("AWS_ECR_DISABLE_CACHE", "1");
    let env_cases = [
        ("AWS_MAX_ATTEMPTS", "0"),
        ("AWS_MAX_ATTEMPTS", "three"),
        ("AWS_RETRY_MODE", "bogus"),
    ];
    for (var, value) in env_cases {
        env.set(var, value);
        for front in [
            Front::Get,
            Front::Kubelet,
            Front::Doctor,
            Front::LoginPassword,
        ] {
            let out = run(&env, front);
            assert_refused(&format!("{front:?} {var}={value}"), front, &out, var);
        }
        env.unset(var);
    }
    // The environment wins over the profile: TestEnv's AWS_RETRY_MODE is gone by now.
    assert!(!env.vars.contains_key("AWS_RETRY_MODE"));
    for (key, value) in [("max_attempts", "0"), ("retry_mode", "sometimes")] {
        std::fs::write(
            env.home().join(".aws/config"),
            format!("[default]\n{key} = {value}\n"),
        )
        .unwrap();
        for front in [
            Front::Get,
            Front::Kubelet,
            Front::Doctor,
            Front::LoginPassword,
        ] {
            let out = run(&env, front);
            assert_refused(&format!("{front:?} {key} = {value}"), front, &out, key);
        }
    }
    assert_eq!(env.aws.count("ecr"), 0);
}

/// A FIFO (a read that waits forever) or a device (a read without end) where the web identity
/// token file should be: the SDK reads it whole, so it is refused first, naming the variable.
#[test]
fn a_web_identity_token_file_that_is_no_file_is_refused() {
    let mut env = TestEnv::new();
    env.set("AWS_ECR_DISABLE_CACHE", "1");
    env.unset("AWS_ACCESS_KEY_ID")
        .unset("AWS_SECRET_ACCESS_KEY");
    env.set("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/puller");
    let fifo = make_fifo(&env.dir.path().join("token-fifo"));
    for path in [fifo.as_path(), Path::new("/dev/zero")] {
        env.set("AWS_WEB_IDENTITY_TOKEN_FILE", path_str(path));
        for front in [Front::Get, Front::Kubelet, Front::LoginPassword] {
            let out = run(&env, front);
            let needle = format!("AWS_WEB_IDENTITY_TOKEN_FILE={}", path.display());
            assert_refused(&format!("{front:?} {needle}"), front, &out, &needle);
        }
    }
    env.unset("AWS_WEB_IDENTITY_TOKEN_FILE")
        .unset("AWS_ROLE_ARN");
    // EKS Pod Identity's token file, which the SDK's container provider reads.
    env.set(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        env.aws.container_url(),
    );
    for path in [fifo.as_path(), Path::new("/dev/zero")] {
        env.set("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", path_str(path));
        let out = run(&env, Front::Get);
        let needle = format!("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE={}", path.display());
        assert_refused(&format!("get {needle}"), Front::Get, &out, &needle);
    }
    env.unset("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        .unset("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    std::fs::write(
        env.home().join(".aws/config"),
        "[default]\nrole_arn = arn:aws:iam::123456789012:role/puller\nweb_identity_token_file = /dev/zero\n",
    )
    .unwrap();
    let out = run(&env, Front::Get);
    assert_refused(
        "get, profile token file",
        Front::Get,
        &out,
        "web_identity_token_file",
    );
    assert_eq!(env.aws.total(), 0);
}

fn make_fifo(path: &Path) -> PathBuf {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    path.to_path_buf()
}

/// `AWS_CONFIG_FILE=/dev/null` (how CI switches the shared files off; the SDKs read it as
/// empty) and the same for the credentials file and the registry config: served with the
/// environment's keys.
#[test]
fn dev_null_reads_as_an_empty_file() {
    let mut env = TestEnv::new();
    env.set("AWS_CONFIG_FILE", "/dev/null");
    env.set("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
    env.set("AWS_ECR_CONFIG", "/dev/null");
    // Docker's config is found in a directory: a link to /dev/null stands for "none" there.
    let docker = env.home().join(".docker");
    std::fs::create_dir_all(&docker).unwrap();
    std::os::unix::fs::symlink("/dev/null", docker.join("config.json")).unwrap();
    assert_every_token_front_served(&env);
    let call = &env.aws.calls()[0];
    assert_eq!(call.access_key, ACCESS_KEY);
}

/// A FIFO and `/dev/zero` named by `AWS_CONFIG_FILE` or `AWS_SHARED_CREDENTIALS_FILE` are
/// refused at once, with the variable named; only `/dev/null` passes for a device.
#[test]
fn fifos_and_other_devices_are_refused_naming_the_variable() {
    let mut env = TestEnv::new();
    let fifo = make_fifo(&env.dir.path().join("config-fifo"));
    for var in ["AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"] {
        let saved = env.vars[var].clone();
        for path in [fifo.as_path(), Path::new("/dev/zero")] {
            env.set(var, path_str(path));
            let needle = format!("{var}={}", path.display());
            for front in [
                Front::Get,
                Front::Kubelet,
                Front::LoginPassword,
                Front::List,
            ] {
                let out = run(&env, front);
                assert_refused(&format!("{front:?} {needle}"), front, &out, &needle);
            }
        }
        env.set(var, saved);
    }
    assert_eq!(env.aws.total(), 0);
}

/// docker-credential-helpers answers an empty server URL with `no credentials server URL` and
/// exit 1, for `get`, `store` and `erase` alike, before the helper itself is asked (so also
/// with `AWS_ECR_IGNORE_CREDS_STORAGE=true`).
#[test]
fn an_empty_server_url_is_refused_as_the_protocol_says() {
    let mut env = TestEnv::new();
    for ignore in [false, true] {
        if ignore {
            env.set("AWS_ECR_IGNORE_CREDS_STORAGE", "true");
        }
        let cases: Vec<(&str, &str)> = vec![
            ("get", ""),
            ("get", " \n"),
            ("get", "\t\r\n "),
            ("erase", ""),
            ("erase", "  \n"),
            ("store", r#"{"ServerURL":"","Username":"AWS","Secret":"s"}"#),
            (
                "store",
                r#"{"ServerURL":"  ","Username":"AWS","Secret":"s"}"#,
            ),
            ("store", r#"{"Username":"AWS","Secret":"s"}"#),
        ];
        for (action, input) in cases {
            let what = format!("{action} {input:?} (ignore storage: {ignore})");
            let out = env.run(&[action], input.as_bytes());
            no_panic(&what, &out);
            assert_eq!(out.status.code(), Some(1), "{what}: {}", stderr(&out));
            assert_eq!(stdout(&out).trim_end(), NO_SERVER_URL, "{what}");
        }
    }
    assert_eq!(env.aws.total(), 0);
}

/// A checkout holding a directory named `~` whose `.aws/config` runs a `credential_process`
/// that leaves `marker` behind: what a relative `~/.aws/config` would read.
fn planted_checkout(root: &Path, marker: &Path) -> PathBuf {
    let checkout = root.join("checkout");
    std::fs::create_dir_all(checkout.join("~/.aws")).unwrap();
    std::fs::write(
        checkout.join("~/.aws/config"),
        format!(
            "[default]\ncredential_process = /bin/sh -c 'touch {} && echo {{\\\"Version\\\":1,\\\"AccessKeyId\\\":\\\"AKIAFROMTHECHECKOUT1\\\",\\\"SecretAccessKey\\\":\\\"x\\\"}}'\n",
            marker.display()
        ),
    )
    .unwrap();
    checkout
}

/// `get` for `PRIVATE` with `env`'s variables, run from `cwd` inside a private mount namespace
/// whose password database is `passwd` alone: `/etc/passwd` and an `nsswitch.conf` that reads
/// only files (nss-systemd would make up an entry for root, with the real `/root`).
fn get_with_passwd(env: &TestEnv, passwd: &Path, cwd: &Path) -> Output {
    let nsswitch = passwd.with_file_name("nsswitch.conf");
    std::fs::write(&nsswitch, "passwd: files\ngroup: files\nhosts: files\n").unwrap();
    let mut cmd = Command::new("unshare");
    cmd.args([
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        r#"mount --bind "$0" /etc/passwd && mount --bind "$1" /etc/nsswitch.conf && cd "$2" && shift 2 && exec "$@""#,
    ])
    .arg(passwd)
    .arg(&nsswitch)
    .arg(cwd)
    .arg(bin())
    .arg("get")
    .env_clear()
    .envs(&env.vars);
    run_bounded(cmd, PRIVATE.as_bytes(), Duration::from_secs(60))
}

/// The variables that would name files in place of the home's defaults.
const HOME_VARS: [&str; 5] = [
    "HOME",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ECR_CACHE_DIR",
    "DOCKER_CONFIG",
];

/// With no `HOME` (systemd units, `env -i`), the home comes from the password database, as
/// the Go helper's does; the working directory's `~/.aws/config` (a directory named `~` in a
/// checkout) is never read, so its `credential_process` never runs. Runs in a private mount
/// namespace with a fake `/etc/passwd` whose root home is a temp dir.
#[test]
fn without_home_the_password_database_names_it() {
    if !support::e2e::require_root() {
        return;
    }
    let mut env = TestEnv::new();
    let root = env.dir.path().to_path_buf();
    let home = root.join("pw-home");
    std::fs::create_dir_all(home.join(".aws")).unwrap();
    std::fs::write(
        home.join(".aws/credentials"),
        "[default]\naws_access_key_id = AKIAHOMEFROMPASSWD01\naws_secret_access_key = s\n",
    )
    .unwrap();
    let passwd = root.join("passwd");
    std::fs::write(
        &passwd,
        format!(
            "root:x:0:0:root:{}:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
            home.display()
        ),
    )
    .unwrap();
    let marker = root.join("credential-process-ran");
    let checkout = planted_checkout(&root, &marker);
    for var in HOME_VARS {
        env.unset(var);
    }
    env.unset("AWS_ACCESS_KEY_ID")
        .unset("AWS_SECRET_ACCESS_KEY");
    let out = get_with_passwd(&env, &passwd, &checkout);
    assert!(
        !marker.exists(),
        "the checkout's ~/.aws/config ran its credential_process"
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout {} stderr {}",
        stdout(&out),
        stderr(&out)
    );
    let calls = env.aws.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].access_key, "AKIAHOMEFROMPASSWD01");
    // The cache lives in that home too.
    assert!(home.join(".ecr/ecr-login-cache").is_dir());
}

/// No `HOME` and no entry in the password database: no home at all, so no default file, no
/// registry config and no cache (rather than one in the working directory); the environment's
/// keys still get a token, every time.
#[test]
fn without_home_or_a_password_entry_nothing_relative_is_used() {
    if !support::e2e::require_root() {
        return;
    }
    let mut env = TestEnv::new();
    let root = env.dir.path().to_path_buf();
    let passwd = root.join("passwd");
    std::fs::write(
        &passwd,
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
    )
    .unwrap();
    let marker = root.join("credential-process-ran");
    let checkout = planted_checkout(&root, &marker);
    for var in HOME_VARS {
        env.unset(var);
    }
    for _ in 0..2 {
        let out = get_with_passwd(&env, &passwd, &checkout);
        assert_eq!(out.status.code(), Some(0), "stderr {}", stderr(&out));
    }
    assert!(!marker.exists(), "the checkout's ~/.aws/config was read");
    assert_eq!(env.aws.count("ecr"), 2, "no cache without a home");
    assert!(env.aws.calls().iter().all(|c| c.access_key == ACCESS_KEY));
    let planted: Vec<_> = std::fs::read_dir(&checkout)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        planted,
        ["~"],
        "something was written in the working directory"
    );
}

/// `/dev/null` reads as empty, but is never written over: `configure` with the client's file
/// named as the null device (or a link to it) refuses, and the device stays a device. (Renaming
/// a file over `/dev/null` as root would break the whole machine.) A device node made here,
/// with the null device's numbers, stands in for `/dev/null`.
#[test]
fn configure_never_replaces_the_null_device() {
    if !support::e2e::require_root() {
        return;
    }
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut env = TestEnv::new();
    let null = env.dir.path().join("null");
    let c = std::ffi::CString::new(null.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    let made = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) };
    assert_eq!(made, 0, "mknod: {}", std::io::Error::last_os_error());
    let link = env.dir.path().join("auth.json");
    std::os::unix::fs::symlink(&null, &link).unwrap();
    for target in [&null, &link] {
        env.set("REGISTRY_AUTH_FILE", path_str(target));
        let out = env.run(&["configure", "--podman", "--registry", PRIVATE], b"");
        no_panic("configure", &out);
        assert_ne!(out.status.code(), Some(0), "{}", stdout(&out));
        let meta = std::fs::metadata(&null).unwrap();
        assert!(meta.file_type().is_char_device(), "the device was replaced");
        assert_eq!(meta.rdev(), libc::makedev(1, 3));
    }
}
