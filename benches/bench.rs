//! Benchmark: what a `get` costs on a cache hit, by the reference method of
//! `../shared/bench/README.md`, against the spawn floor and the Go helper, for AWS configs of
//! every size; then peak RSS, a cold `get` and the herd. Reports figures; asserts nothing about
//! time (only that no hit made an API call).
//!
//! Run with `scripts/bench`, which builds the reference tools and the release binary, finds the
//! Go helper, and isolates everything from the network. The harness itself needs:
//! - `BENCH_SPAWNBENCH`: the reference timer (`spawnbench.c`, compiled): it starts each command
//!   with `posix_spawn`, stdin from a file, stdout and stderr to /dev/null, interleaves the
//!   commands round by round and prints each one's median and minimum in microseconds;
//! - `BENCH_GEN_SSO_CONFIG`: the reference config generator (`gen-sso-config N FILE`);
//! - optional: `BENCH_BIN` (our binary; default the one cargo built beside the harness),
//!   `BENCH_GO_HELPER` (the Go helper, `none` to leave it out; default
//!   `/usr/bin/docker-credential-ecr-login` when Debian's package installed it), `BENCH_ROUNDS`
//!   (timed rounds per row, default 200), `BENCH_COLD` (cold rounds, default 20),
//!   `BENCH_SIZES` (profile counts, default `300,3000,9000`), `BENCH_BEFORE` (another build of
//!   ours, e.g. the base commit's, timed in the same interleaved rounds: each fills and hits its
//!   own files in the one cache directory), `BENCH_IDENTITIES` (identities cached for the
//!   cache-size rows, default 1000; 0 leaves them out).
//!
//! Each row runs in a fresh temporary home with the reference environment: environment keys,
//! `AWS_CONFIG_FILE` naming the row's config (a missing file for "none"), a missing credentials
//! file, the cache in the home, the endpoints on a loopback fake; one `get` (the miss), one more
//! (a hit), then the timed rounds. The Go helper's own cache (`cache.json`) is filled in the same
//! directory. Configs are timed once they are more than two seconds old, as real ones are: a
//! file changed within two seconds of a read is read again ([`ecr_login`]'s memo rule).
//!
//! The cache-size rows time a hit with only its own identity cached, then with
//! `BENCH_IDENTITIES` cached (the others filled by cold `get`s with other access keys), each
//! against the floor of its own run: a hit should cost the same whatever else is cached.
//!
//! `BENCH_PREPARE=DIR` only prepares a cache hit for `scripts/profile-hit`: it writes a home,
//! an AWS config and a filled cache under DIR, checks that a miss fetched a token through an
//! endpoint named by host name (`http://localhost:PORT`, so the binary resolved a name), then a
//! hit made no call, writes the hit's environment to `DIR/env` (one `NAME=VALUE` a line) and the
//! server URL to `DIR/input`, and exits. Nothing is timed.

#[path = "../tests/it/support/fake_aws.rs"]
mod fake_aws;

use base64::Engine;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const HOST: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com";
const ACCESS_KEY: &str = "AKIABENCHBENCHBENCH1";
const PASSWORD: &str = "bench-password";

/// The environment of a `get` with keys in the environment, everything else under `base`.
fn setup_env(base: &Path, endpoint: &str) -> Vec<(String, String)> {
    let home = base.join("home");
    std::fs::create_dir_all(home.join(".aws")).unwrap();
    let p = |rel: &str| home.join(rel).display().to_string();
    let env = vec![
        ("PATH".into(), "/usr/bin:/bin".into()),
        ("HOME".into(), p("")),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ("AWS_CONFIG_FILE".into(), p(".aws/config")),
        ("AWS_SHARED_CREDENTIALS_FILE".into(), p(".aws/credentials")),
        ("AWS_ECR_CACHE_DIR".into(), p(".ecr")),
        ("AWS_ENDPOINT_URL_ECR".into(), endpoint.into()),
        ("AWS_ENDPOINT_URL_ECR_PUBLIC".into(), endpoint.into()),
        ("AWS_ENDPOINT_URL_STS".into(), endpoint.into()),
        ("AWS_ACCESS_KEY_ID".into(), ACCESS_KEY.into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "bench-secret-key".into()),
        ("AWS_REGION".into(), "us-west-2".into()),
    ];
    env
}

/// `BENCH_PREPARE`: a filled cache and the environment of a hit, for `scripts/profile-hit`.
fn prepare(ours: &Path, dir: &Path) {
    let fake = fake_aws::FakeAws::start();
    fake.set_password(PASSWORD);
    // A host name, not 127.0.0.1: the miss must resolve it as a real endpoint would be.
    let env = setup_env(dir, &format!("http://localhost:{}", fake.port()));
    let input = HOST.as_bytes();
    assert!(
        answers(ours, &env, input),
        "{}: the miss through http://localhost:{} got no token",
        ours.display(),
        fake.port()
    );
    assert_eq!(fake.total(), 1, "the miss made {} API calls", fake.total());
    assert!(answers(ours, &env, input), "the hit got no token");
    assert_eq!(fake.total(), 1, "the hit made an API call");
    let lines: String = env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    std::fs::write(dir.join("env"), lines).expect("write env");
    std::fs::write(dir.join("input"), input).expect("write input");
    println!(
        "prepared a cache hit under {}: the miss resolved localhost and fetched a token (1 API call), the hit made none",
        dir.display()
    );
}

fn command(bin: &Path, args: &[&str], env: &[(String, String)]) -> Command {
    let mut c = Command::new(bin);
    c.args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)));
    c
}

/// The Go helper (v0.6) keys its cache by `<region>-<base64(key id + md5(""))>-<account>`, where the
/// odd checksum is its `md5.New().Sum(data)` call; it resolves credentials on every call, which
/// with environment keys costs no network.
fn fill_go_cache(cache_dir: &Path) {
    let mut checksum = ACCESS_KEY.as_bytes().to_vec();
    checksum.extend_from_slice(&[
        0xd4, 0x1d, 0x8c, 0xd9, 0x8f, 0x00, 0xb2, 0x04, 0xe9, 0x80, 0x09, 0x98, 0xec, 0xf8, 0x42,
        0x7e,
    ]);
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = format!("us-west-2-{}-123456789012", b64.encode(&checksum));
    let token = b64.encode(format!("AWS:{PASSWORD}"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let rfc3339 = |secs: u64| {
        let out = Command::new("date")
            .args(["-u", "-d", &format!("@{secs}"), "+%Y-%m-%dT%H:%M:%SZ"])
            .output()
            .expect("date");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let body = serde_json::json!({
        "Registries": { key: {
            "AuthorizationToken": token,
            "RequestedAt": rfc3339(now),
            "ExpiresAt": rfc3339(now + 12 * 3600),
            "ProxyEndpoint": format!("https://{HOST}"),
            "Service": "ecr",
        }},
        "Version": "1.0",
    });
    std::fs::create_dir_all(cache_dir).unwrap();
    std::fs::write(cache_dir.join("cache.json"), body.to_string()).unwrap();
}

fn go_helper() -> Option<PathBuf> {
    if std::env::var("BENCH_GO_HELPER").is_ok_and(|v| v == "none") {
        return None;
    }
    let path = std::env::var_os("BENCH_GO_HELPER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/docker-credential-ecr-login"));
    let owner = Command::new("dpkg")
        .args(["-S", &path.display().to_string()])
        .output()
        .ok()?;
    let from_go_package =
        String::from_utf8_lossy(&owner.stdout).contains("amazon-ecr-credential-helper");
    (path.exists() && (from_go_package || std::env::var_os("BENCH_GO_HELPER").is_some()))
        .then_some(path)
}

/// Runs `bin get` once with `env` and returns whether it answered with the bench password.
fn answers(bin: &Path, env: &[(String, String)], input: &[u8]) -> bool {
    command(bin, &["get"], env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().expect("stdin").write_all(input)?;
            c.wait_with_output()
        })
        .is_ok_and(|out| {
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains(PASSWORD)
        })
}

fn env_value<'a>(env: &'a [(String, String)], name: &str) -> &'a str {
    env.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

/// One command's figures from a spawnbench run, in microseconds.
#[derive(Debug, Clone, Copy)]
struct Timing {
    median: f64,
    min: f64,
}

/// Runs `spawnbench rounds input -- CMD... [-- CMD...]` with exactly `env`, and returns each
/// command's median and minimum.
fn spawnbench(
    spawnbench: &Path,
    rounds: usize,
    input: &Path,
    commands: &[Vec<String>],
    env: &[(String, String)],
) -> Vec<Timing> {
    let mut cmd = Command::new(spawnbench);
    cmd.arg(rounds.to_string()).arg(input);
    for c in commands {
        cmd.arg("--").args(c);
    }
    let out = cmd
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stderr(Stdio::inherit())
        .output()
        .expect("run spawnbench");
    assert!(out.status.success(), "spawnbench failed: {:?}", out.status);
    let timings: Vec<Timing> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            let mut f = line
                .split_whitespace()
                .map(|v| v.parse::<f64>().expect("a number"));
            Timing {
                median: f.next().expect("median"),
                min: f.next().expect("min"),
            }
        })
        .collect();
    assert_eq!(
        timings.len(),
        commands.len(),
        "spawnbench printed {timings:?}"
    );
    timings
}

/// `/usr/bin/time -f %M BIN get < input`: peak RSS in KiB.
fn peak_rss_kib(bin: &Path, env: &[(String, String)], input: &Path) -> u64 {
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .arg(bin)
        .arg("get")
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(std::fs::File::open(input).expect("input"))
        .stdout(Stdio::null())
        .output()
        .expect("run /usr/bin/time");
    assert!(
        out.status.success(),
        "{} get failed under /usr/bin/time",
        bin.display()
    );
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .expect("/usr/bin/time printed the peak RSS")
}

fn required_path(var: &str) -> PathBuf {
    let path = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("{var} is not set: run scripts/bench"));
    assert!(path.is_file(), "{var}: no file {}", path.display());
    path
}

/// Waits until `path`'s ctime is more than two seconds old (see the module's doc).
fn settle(path: &Path) {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).expect("stat the config");
    let ctime = meta.ctime() as f64 + meta.ctime_nsec() as f64 / 1e9;
    loop {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        if now > ctime + 2.2 {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Where the optional commands are in a row's timings.
#[derive(Default)]
struct Columns {
    before: Option<usize>,
    go: Option<usize>,
}

/// One row: a config, and the environment of a hit under it.
struct Row {
    label: String,
    _dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

fn row(label: &str, fake: &fake_aws::FakeAws, gen_sso_config: &Path, profiles: usize) -> Row {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = setup_env(dir.path(), &fake.url());
    let config = PathBuf::from(env_value(&env, "AWS_CONFIG_FILE"));
    if profiles > 0 {
        let status = Command::new(gen_sso_config)
            .arg(profiles.to_string())
            .arg(&config)
            .status()
            .expect("run gen-sso-config");
        assert!(status.success(), "gen-sso-config {profiles} failed");
    }
    Row {
        label: label.to_string(),
        _dir: dir,
        env,
    }
}

/// A hit with one identity cached, then with `identities`: each row's ratio to its own floor.
fn cache_size_rows(
    ours: &Path,
    fake: &fake_aws::FakeAws,
    spawnbench_bin: &Path,
    rounds: usize,
    input: &Path,
    identities: usize,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = setup_env(dir.path(), &fake.url());
    assert!(answers(ours, &env, HOST.as_bytes()), "the miss failed");
    assert!(answers(ours, &env, HOST.as_bytes()), "the hit failed");
    let commands = [
        vec!["/bin/cat".to_string()],
        vec![ours.display().to_string(), "get".into()],
    ];
    let timed = |label: String| {
        let calls = fake.total();
        let t = spawnbench(spawnbench_bin, rounds, input, &commands, &env);
        assert_eq!(fake.total(), calls, "{label}: a hit made an API call");
        (label, t[0], t[1])
    };
    let one = timed("1 identity".into());
    fill_identities(ours, &env, identities - 1);
    let many = timed(format!("{identities} identities"));
    println!("# hit by the number of identities cached (environment keys, no AWS config)");
    println!();
    println!("| cached | floor (`cat`) | ecr-login hit | ours / floor | / one identity |");
    println!("| --- | --- | --- | --- | --- |");
    let base = one.2.median / one.1.median;
    for (label, floor, hit) in [one, many] {
        let ratio = hit.median / floor.median;
        println!(
            "| {label} | {} | {} | {ratio:.2}x | **{:.2}x** |",
            ms(floor.median),
            ms(hit.median),
            ratio / base
        );
    }
    println!();
}

/// `n` more identities in the cache of `env`: cold `get`s with other access keys, four at a
/// time.
fn fill_identities(ours: &Path, env: &[(String, String)], n: usize) {
    std::thread::scope(|scope| {
        for worker in 0..4 {
            scope.spawn(move || {
                for i in (worker..n).step_by(4) {
                    let mut env = env.to_vec();
                    env.retain(|(k, _)| k != "AWS_ACCESS_KEY_ID");
                    env.push(("AWS_ACCESS_KEY_ID".into(), format!("AKIAFILL{i:012}")));
                    assert!(
                        answers(ours, &env, HOST.as_bytes()),
                        "identity {i}: no token"
                    );
                }
            });
        }
    });
}

fn ms(us: f64) -> String {
    format!("{:.3} ms", us / 1000.0)
}

fn main() {
    let ours = std::env::var_os("BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_docker-credential-ecr-login")));
    if let Some(dir) = std::env::var_os("BENCH_PREPARE") {
        prepare(&ours, Path::new(&dir));
        return;
    }
    let spawnbench_bin = required_path("BENCH_SPAWNBENCH");
    let gen_sso_config = required_path("BENCH_GEN_SSO_CONFIG");
    let number = |var: &str, default: usize| {
        std::env::var(var)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let rounds = number("BENCH_ROUNDS", 200);
    let cold_rounds = number("BENCH_COLD", 20);
    let sizes: Vec<usize> = std::env::var("BENCH_SIZES")
        .unwrap_or_else(|_| "300,3000,9000".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let before = std::env::var_os("BENCH_BEFORE").map(PathBuf::from);
    let fake = fake_aws::FakeAws::start();
    fake.set_password(PASSWORD);
    let go = go_helper();
    let work = tempfile::tempdir().expect("tempdir");
    let input = work.path().join("input");
    std::fs::write(&input, HOST).expect("write the input");
    let cat = "/bin/cat".to_string();
    let ours_s = ours.display().to_string();
    println!("ours: {ours_s}");
    if let Some(b) = &before {
        println!("before: {}", b.display());
    }
    match &go {
        Some(go) => println!("Go helper: {}", go.display()),
        None => println!("Go helper: left out"),
    }

    // Every config first, so that they have aged past the racy window when their turn comes.
    let mut rows = vec![row("none (environment keys)", &fake, &gen_sso_config, 0)];
    for n in &sizes {
        rows.push(row(
            &format!("{n} sso-session profiles"),
            &fake,
            &gen_sso_config,
            *n,
        ));
    }
    let mut table = Vec::new();
    for r in &rows {
        let config = PathBuf::from(env_value(&r.env, "AWS_CONFIG_FILE"));
        if config.exists() {
            settle(&config);
        }
        assert!(
            answers(&ours, &r.env, HOST.as_bytes()),
            "{}: our miss failed",
            r.label
        );
        assert!(
            answers(&ours, &r.env, HOST.as_bytes()),
            "{}: our hit failed",
            r.label
        );
        let mut commands = vec![vec![cat.clone()], vec![ours_s.clone(), "get".into()]];
        let mut columns = Columns::default();
        if let Some(b) = &before {
            assert!(
                answers(b, &r.env, HOST.as_bytes()),
                "{}: before's miss failed",
                r.label
            );
            assert!(
                answers(b, &r.env, HOST.as_bytes()),
                "{}: before's hit failed",
                r.label
            );
            columns.before = Some(commands.len());
            commands.push(vec![b.display().to_string(), "get".into()]);
        }
        if let Some(go) = &go {
            fill_go_cache(Path::new(env_value(&r.env, "AWS_ECR_CACHE_DIR")));
            if answers(go, &r.env, HOST.as_bytes()) {
                columns.go = Some(commands.len());
                commands.push(vec![go.display().to_string(), "get".into()]);
            } else {
                println!("{}: the Go helper's cache was not hit; left out", r.label);
            }
        }
        let calls = fake.total();
        let t = spawnbench(&spawnbench_bin, rounds, &input, &commands, &r.env);
        assert_eq!(fake.total(), calls, "{}: a hit made an API call", r.label);
        table.push((r.label.clone(), t, columns));
    }

    println!();
    println!(
        "# hit, reference method: {rounds} interleaved rounds, posix_spawn, medians (minima in brackets)"
    );
    println!();
    println!(
        "| AWS config | floor (`cat`) | ecr-login hit | ours / floor (of minima) |{} Go helper hit | Go / ours |",
        if before.is_some() {
            " before | before / floor |"
        } else {
            ""
        }
    );
    println!(
        "| --- | --- | --- | --- |{} --- | --- |",
        if before.is_some() { " --- | --- |" } else { "" }
    );
    for (label, t, columns) in &table {
        let (floor, hit) = (t[0], t[1]);
        let before_cells = match columns.before.map(|i| t[i]) {
            Some(b) => format!(
                " {} ({}) | {:.2}x ({:.2}x) |",
                ms(b.median),
                ms(b.min),
                b.median / floor.median,
                b.min / floor.min
            ),
            None if before.is_some() => " | |".into(),
            None => String::new(),
        };
        let go_cells = match columns.go.map(|i| t[i]) {
            Some(g) => format!(
                "{} ({}) | {:.1}x ({:.1}x)",
                ms(g.median),
                ms(g.min),
                g.median / hit.median,
                g.min / hit.min
            ),
            None => "| ".into(),
        };
        println!(
            "| {label} | {} ({}) | {} ({}) | **{:.2}x** ({:.2}x) |{before_cells} {go_cells} |",
            ms(floor.median),
            ms(floor.min),
            ms(hit.median),
            ms(hit.min),
            hit.median / floor.median,
            hit.min / floor.min
        );
    }
    println!();

    let identities = number("BENCH_IDENTITIES", 1000);
    if identities > 1 {
        cache_size_rows(&ours, &fake, &spawnbench_bin, rounds, &input, identities);
    }

    // Peak RSS with the largest config.
    if let Some(r) = rows.last() {
        let kib = peak_rss_kib(&ours, &r.env, &input);
        print!(
            "peak RSS of a hit, {}: ecr-login {:.1} MiB ({kib} KiB)",
            r.label,
            kib as f64 / 1024.0
        );
        if let Some(go) = &go {
            let go_kib = peak_rss_kib(go, &r.env, &input);
            print!(
                ", Go helper {:.1} MiB ({go_kib} KiB)",
                go_kib as f64 / 1024.0
            );
        }
        println!();
        if let Some(b) = &before {
            let kib = peak_rss_kib(b, &r.env, &input);
            println!(
                "peak RSS of a hit, {}: before {:.1} MiB ({kib} KiB)",
                r.label,
                kib as f64 / 1024.0
            );
        }
        let mut miss_env = r.env.clone();
        miss_env.push(("AWS_ECR_DISABLE_CACHE".into(), "1".into()));
        let kib = peak_rss_kib(&ours, &miss_env, &input);
        println!(
            "peak RSS of a miss (no cache), {}: ecr-login {:.1} MiB ({kib} KiB)",
            r.label,
            kib as f64 / 1024.0
        );
    }

    // Cold: no cache, every call fetches from the loopback fake; no config.
    let mut cold_env = rows[0].env.clone();
    cold_env.push(("AWS_ECR_DISABLE_CACHE".into(), "1".into()));
    let mut commands = vec![vec![cat.clone()], vec![ours_s.clone(), "get".into()]];
    if let Some(b) = &before {
        commands.push(vec![b.display().to_string(), "get".into()]);
    }
    let t = spawnbench(&spawnbench_bin, cold_rounds, &input, &commands, &cold_env);
    for (i, who) in [(1, "ecr-login"), (2, "before")] {
        if let Some(c) = t.get(i) {
            println!(
                "cold get, {who} (no cache, fake ECR on loopback, {cold_rounds} rounds): {} median, {} min ({:.1}x the floor)",
                ms(c.median),
                ms(c.min),
                c.median / t[0].median
            );
        }
    }

    // The herd: 64 concurrent cold calls for one region and identity.
    let herd_dir = tempfile::tempdir().expect("tempdir");
    let herd_env = setup_env(herd_dir.path(), &fake.url());
    fake.set_delay(Duration::from_millis(500));
    let before = fake.total();
    let started = Instant::now();
    let children: Vec<_> = (0..64)
        .map(|_| {
            let mut c = command(&ours, &["get"], &herd_env);
            c.stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let mut child = c.spawn().expect("spawn");
            let _ = child
                .stdin
                .take()
                .expect("stdin")
                .write_all(HOST.as_bytes());
            child
        })
        .collect();
    let ok = children
        .into_iter()
        .filter_map(|mut c| c.wait().ok())
        .filter(|s| s.success())
        .count();
    println!(
        "herd: 64 concurrent cold gets, endpoint answering after 500 ms: {:.0} ms wall, {ok}/64 succeeded, {} API call(s)",
        started.elapsed().as_secs_f64() * 1000.0,
        fake.total() - before
    );
    let size = std::fs::metadata(&ours).map(|m| m.len()).unwrap_or(0);
    println!(
        "binary size: {:.2} MiB ({})",
        size as f64 / 1048576.0,
        ours.display()
    );
}
