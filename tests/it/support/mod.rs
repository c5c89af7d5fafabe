//! Shared test environment: a temp HOME, isolated AWS/Docker config, a fake AWS endpoint, and a
//! way to run the built binary with nothing from the real environment leaking in.

#![allow(dead_code)]

pub mod e2e;
pub mod engine;
pub mod fake_aws;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

#[allow(unused_imports)] // not every test binary uses both
pub use fake_aws::{FakeAws, Reply};

/// The binary under test: the one cargo built, or `ECR_LOGIN_TEST_BIN` (CI points it at the
/// binary installed from the .deb, to run the same tests against what ships).
pub fn bin() -> PathBuf {
    match std::env::var_os("ECR_LOGIN_TEST_BIN") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_docker-credential-ecr-login")),
    }
}

pub const NOT_FOUND: &str = "credentials not found in native keychain";
pub const ACCESS_KEY: &str = "AKIAFAKEFAKEFAKE0001";
pub const SECRET_KEY: &str = "fake-secret-key-do-not-print";

pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub aws: FakeAws,
    pub vars: BTreeMap<String, String>,
    pub removed: Vec<String>,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        TestEnv::with_aws(FakeAws::start())
    }

    /// The environment around a fake started elsewhere (in a test's network namespace).
    pub fn with_aws(aws: FakeAws) -> TestEnv {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join(".aws")).unwrap();
        let mut vars = BTreeMap::new();
        let mut set = |k: &str, v: String| {
            vars.insert(k.to_string(), v);
        };
        set(
            "PATH",
            std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
        );
        set("HOME", home.display().to_string());
        set("AWS_EC2_METADATA_DISABLED", "true".into());
        set(
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            "http://127.0.0.1:9/".into(),
        );
        set(
            "AWS_CONFIG_FILE",
            home.join(".aws/config").display().to_string(),
        );
        set(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.join(".aws/credentials").display().to_string(),
        );
        set(
            "AWS_ECR_CACHE_DIR",
            dir.path().join("cache").display().to_string(),
        );
        set("DOCKER_CONFIG", home.join(".docker").display().to_string());
        set("AWS_ENDPOINT_URL_ECR", aws.url());
        set("AWS_ENDPOINT_URL_ECR_PUBLIC", aws.url());
        set("AWS_ENDPOINT_URL_STS", aws.url());
        set("AWS_ACCESS_KEY_ID", ACCESS_KEY.into());
        set("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into());
        set("AWS_RETRY_MODE", "standard".into());
        TestEnv {
            dir,
            aws,
            vars,
            removed: Vec::new(),
        }
    }

    pub fn home(&self) -> PathBuf {
        PathBuf::from(&self.vars["HOME"])
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// Where the records live: one file per key (identity and region).
    pub fn records_dir(&self) -> PathBuf {
        self.cache_dir().join("ecr-login-cache")
    }

    /// The record files now, sorted.
    pub fn record_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.records_dir())
            .map(|dir| {
                dir.flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        let name = p.file_name().unwrap_or_default().to_string_lossy();
                        name.ends_with(".json") && !name.starts_with('.')
                    })
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
    }

    /// The one record file there is (the test made one key's token).
    pub fn cache_file(&self) -> PathBuf {
        let files = self.record_files();
        assert_eq!(files.len(), 1, "expected one cache record: {files:?}");
        files.into_iter().next().unwrap()
    }

    /// Every record, as `{"entries": {key: entry}, "failures": {key: failure}}`.
    pub fn cache_json(&self) -> serde_json::Value {
        let mut entries = serde_json::Map::new();
        let mut failures = serde_json::Map::new();
        for path in self.record_files() {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let Ok(record) = serde_json::from_str::<serde_json::Value>(&text) else {
                continue;
            };
            let key = record["key"].as_str().unwrap_or_default().to_string();
            if !record["entry"].is_null() {
                entries.insert(key.clone(), record["entry"].clone());
            }
            if !record["failure"].is_null() {
                failures.insert(key, record["failure"].clone());
            }
        }
        serde_json::json!({"entries": entries, "failures": failures})
    }

    /// Rewrites every record through `change(record)`, keeping each file's mode.
    pub fn edit_records(&self, mut change: impl FnMut(&mut serde_json::Value)) {
        for path in self.record_files() {
            let text = std::fs::read_to_string(&path).unwrap();
            let mut record: serde_json::Value = serde_json::from_str(&text).unwrap();
            change(&mut record);
            std::fs::write(&path, record.to_string()).unwrap();
        }
    }

    /// Sets the mtime of every file in the cache directory and below `ago` in the past: time
    /// passing for the sweep.
    pub fn backdate_cache_files(&self, ago: Duration) {
        let when = std::time::SystemTime::now() - ago;
        for path in paths_under(&self.cache_dir()) {
            if let Ok(f) = std::fs::File::options().write(true).open(&path) {
                let _ = f.set_modified(when);
            }
        }
    }

    pub fn set(&mut self, k: &str, v: impl Into<String>) -> &mut Self {
        self.vars.insert(k.to_string(), v.into());
        self
    }

    pub fn unset(&mut self, k: &str) -> &mut Self {
        self.vars.remove(k);
        self
    }

    /// The binary with exactly this environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.args(args).env_clear().envs(&self.vars);
        cmd
    }

    /// Runs `args` with `stdin`, bounded by a minute.
    pub fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
        run_bounded(self.command(args), stdin, Duration::from_secs(60))
    }

    /// A `get` left running in the background (output discarded): a refresher to kill or race.
    pub fn spawn_get(&self, server_url: &str) -> std::process::Child {
        let mut child = self
            .command(&["get"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn get");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(server_url.as_bytes()).expect("write stdin");
        child
    }

    /// `n` concurrent `get`s of `server_url`, each bounded by a minute, left running.
    pub fn spawn_herd(&self, n: usize, server_url: &str) -> Vec<std::thread::JoinHandle<Output>> {
        (0..n)
            .map(|_| {
                let cmd = self.command(&["get"]);
                let input = server_url.as_bytes().to_vec();
                std::thread::spawn(move || run_bounded(cmd, &input, Duration::from_secs(60)))
            })
            .collect()
    }

    /// `n` concurrent `get`s of `server_url`, waited for.
    pub fn herd(&self, n: usize, server_url: &str) -> Vec<Output> {
        self.spawn_herd(n, server_url)
            .into_iter()
            .map(|h| h.join().expect("a get of the herd"))
            .collect()
    }

    pub fn get(&self, server_url: &str) -> Output {
        self.run(&["get"], server_url.as_bytes())
    }

    /// A successful `get`'s answer, parsed.
    pub fn get_ok(&self, server_url: &str) -> serde_json::Value {
        let out = self.get(server_url);
        assert!(
            out.status.success(),
            "get {server_url} failed: stdout={} stderr={}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("get prints JSON")
    }

    /// Rewrites every cache entry's issue and expiry times (Unix seconds): to make a token due
    /// for refresh, or expired, without waiting hours.
    pub fn age_cache(&self, issued_at: f64, expires_at: f64) {
        self.edit_records(|record| {
            if let Some(entry) = record.get_mut("entry").filter(|e| e.is_object()) {
                entry["issued_at"] = issued_at.into();
                entry["expires_at"] = expires_at.into();
            }
        });
    }

    /// Makes every cached token due for refresh but still valid for hours.
    pub fn make_due(&self) {
        self.age_cache(now() - 7.0 * 3600.0, now() + 5.0 * 3600.0);
    }

    pub fn write_file(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }
}

/// Every file and directory below `dir` (none when it does not exist).
pub fn paths_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(paths_under(&path));
        }
        found.push(path);
    }
    found
}

/// Waits until `done` holds, polling; fails the test naming `what` after `limit`.
pub fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "gave up after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl TestEnv {
    /// The passwords in the cache now.
    pub fn cached_secrets(&self) -> Vec<String> {
        let v = self.cache_json();
        v["entries"]
            .as_object()
            .map(|entries| {
                entries
                    .values()
                    .filter_map(|e| e["password"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until the background refresh has replaced the cached `secret` (a token served).
    pub fn wait_for_refresh(&self, secret: &serde_json::Value) {
        let old = secret.as_str().unwrap_or_default().to_string();
        wait_until(Duration::from_secs(30), "the background refresh", || {
            let now = self.cached_secrets();
            !now.is_empty() && !now.contains(&old)
        });
    }
}

/// Runs a command with `stdin`, killing it if it outlives `limit` (then the test fails).
pub fn run_bounded(mut cmd: Command, stdin: &[u8], limit: Duration) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    // The child may stop reading early (as it should for oversized input): ignore EPIPE.
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{cmd:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = writer.join();
    Output {
        status,
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    }
}

/// A `CredentialProviderRequest` (v1) for `image`, as the kubelet writes it.
pub fn kubelet_request(image: &str) -> String {
    serde_json::json!({
        "kind": "CredentialProviderRequest",
        "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
        "image": image,
    })
    .to_string()
}

/// Unix seconds.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts Docker's "no credentials" answer.
pub fn assert_not_found(out: &Output) {
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr(out));
    assert_eq!(stdout(out), NOT_FOUND);
}

/// Whether an external tool is installed; with `CI=true` a missing one fails the test.
pub fn require_tool(name: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{name} is not installed; .ci/run must install it");
        }
        eprintln!("SKIPPED: {name} is not installed");
    }
    found
}

pub fn path_str(p: &Path) -> String {
    p.display().to_string()
}

/// A listener that accepts connections and never reads or answers them, for as long as the
/// returned handle's thread runs (90 s).
pub fn silent_endpoint() -> (String, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut held = Vec::new();
        listener.set_nonblocking(true).unwrap();
        let until = Instant::now() + Duration::from_secs(90);
        while Instant::now() < until {
            match listener.accept() {
                Ok((stream, _)) => held.push(stream),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
            if held.len() > 16 {
                break;
            }
        }
    });
    (url, handle)
}

/// A loopback URL where nothing listens: connections are refused at once.
pub fn refused_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}")
}
