//! Benchmark: what a `get` costs on a cache hit and a miss, against the spawn floor and the Go
//! helper, in one interleaved run on this machine. Reports figures; asserts nothing about time.
//!
//! Run with `scripts/bench` (which also isolates the Go helper from the network), or
//! `cargo bench --bench bench`. Knobs: `BENCH_ITERATIONS` (hit runs per command, default 300),
//! `BENCH_COLD` (cold runs, default 20), `BENCH_GO_HELPER` (path of the Go helper; default
//! `/usr/bin/docker-credential-ecr-login` when that is Debian's `amazon-ecr-credential-helper`;
//! `none` leaves it out). The Go helper must run without network (it would call AWS on a miss):
//! `scripts/bench` runs everything in a private network namespace.
//!
//! Other builds of ours: `BENCH_BIN=PATH` measures that binary instead of the one cargo built
//! beside the bench; `BENCH_EXTRA="LABEL=PATH,LABEL=PATH"` adds more binaries of ours to the
//! interleaved hit runs (environment keys), e.g. a dynamic and a static build side by side.
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

struct Sample {
    wall: Duration,
    /// User plus system CPU time of the child: steadier than wall time on a busy machine.
    cpu: Duration,
    max_rss_kib: i64,
}

/// Runs `cmd` with `stdin`, measuring wall time from spawn to reap and the child's peak RSS.
fn measure(cmd: &mut Command, stdin: &[u8]) -> Sample {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let started = Instant::now();
    #[allow(clippy::zombie_processes)] // reaped by wait4 below, which also gives the rusage
    let mut child = cmd.spawn().expect("spawn");
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(stdin);
    }
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    assert_eq!(rc, pid, "wait4 failed");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{cmd:?} failed"
    );
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Sample {
        wall,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        max_rss_kib: usage.ru_maxrss,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn percentile(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

struct Setup {
    _dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

fn setup(fake: &fake_aws::FakeAws) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = setup_env(dir.path(), &fake.url());
    Setup { _dir: dir, env }
}

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

/// A command to time: name, program, arguments, environment.
type Run<'a> = (&'a str, &'a PathBuf, Vec<&'a str>, &'a [(String, String)]);

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

/// `BENCH_EXTRA`: `LABEL=PATH` pairs, comma-separated.
fn extra_binaries() -> Vec<(String, PathBuf)> {
    let Ok(spec) = std::env::var("BENCH_EXTRA") else {
        return Vec::new();
    };
    spec.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|pair| {
            let (label, path) = pair
                .split_once('=')
                .unwrap_or_else(|| panic!("BENCH_EXTRA: {pair:?} is not LABEL=PATH"));
            let path = PathBuf::from(path.trim());
            assert!(path.is_file(), "BENCH_EXTRA: no file {}", path.display());
            (format!("ecr-login hit, env, {}", label.trim()), path)
        })
        .collect()
}

fn main() {
    let ours = std::env::var_os("BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_docker-credential-ecr-login")));
    if let Some(dir) = std::env::var_os("BENCH_PREPARE") {
        prepare(&ours, Path::new(&dir));
        return;
    }
    let extras = extra_binaries();
    let iterations: usize = std::env::var("BENCH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let cold_runs: usize = std::env::var("BENCH_COLD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let fake = fake_aws::FakeAws::start();
    fake.set_password(PASSWORD);
    let s = setup(&fake);
    let input = HOST.as_bytes();

    // A second identity setup, common on laptops and CI: a profile whose credentials come from
    // `credential_process` (aws-vault, granted, SSO wrappers). Same key id, so the Go helper's
    // cache key is the same; ours is keyed by the profile.
    let config = PathBuf::from(env_value(&s.env, "AWS_CONFIG_FILE"));
    // A script path, not a shell line: the Go SDK does not run the command through a shell.
    let script = config.with_file_name("credentials.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho '{{\"Version\":1,\"AccessKeyId\":\"{ACCESS_KEY}\",\"SecretAccessKey\":\"bench-secret-key\"}}'\n"
        ),
    )
    .expect("write credential_process script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod credential_process script");
    std::fs::write(
        &config,
        format!(
            "[profile bench]\ncredential_process = {}\n",
            script.display()
        ),
    )
    .expect("write AWS config");
    let process_env: Vec<(String, String)> = s
        .env
        .iter()
        .filter(|(k, _)| !k.starts_with("AWS_ACCESS_KEY_ID") && !k.starts_with("AWS_SECRET"))
        .cloned()
        .chain([("AWS_PROFILE".to_string(), "bench".to_string())])
        .collect();

    // Fill our cache for both setups and check the answers.
    assert!(answers(&ours, &s.env, input), "our get failed");
    assert!(
        answers(&ours, &process_env, input),
        "our get with credential_process failed"
    );
    for (label, bin) in &extras {
        assert!(answers(bin, &s.env, input), "{label}: get failed");
    }
    let calls_after_fill = fake.total();

    let go = go_helper().and_then(|go| {
        fill_go_cache(Path::new(env_value(&s.env, "AWS_ECR_CACHE_DIR")));
        if answers(&go, &s.env, input) && answers(&go, &process_env, input) {
            Some(go)
        } else {
            println!(
                "Go helper at {}: its cache was not hit; left out",
                go.display()
            );
            None
        }
    });
    let cat = PathBuf::from("/bin/cat");

    // Interleaved: floor, ours, Go, floor, ours, Go, ...
    let mut runs: Vec<Run> = vec![
        ("floor (/bin/cat)", &cat, vec![], &s.env),
        ("ecr-login hit, env keys", &ours, vec!["get"], &s.env),
        (
            "ecr-login hit, cred_process",
            &ours,
            vec!["get"],
            &process_env,
        ),
    ];
    for (label, bin) in &extras {
        runs.push((label, bin, vec!["get"], &s.env));
    }
    let go_first = runs.len();
    if let Some(go) = &go {
        runs.push(("Go helper hit, env keys", go, vec!["get"], &s.env));
        runs.push(("Go helper hit, cred_process", go, vec!["get"], &process_env));
    }
    let mut walls: Vec<Vec<Duration>> = vec![Vec::new(); runs.len()];
    let mut cpus: Vec<Vec<Duration>> = vec![Vec::new(); runs.len()];
    let mut rss: Vec<i64> = vec![0; runs.len()];
    for _ in 0..iterations {
        for (i, (_, bin, args, env)) in runs.iter().enumerate() {
            let sample = measure(&mut command(bin, args, env), input);
            walls[i].push(sample.wall);
            cpus[i].push(sample.cpu);
            rss[i] = rss[i].max(sample.max_rss_kib);
        }
    }
    assert_eq!(fake.total(), calls_after_fill, "a hit made an API call");
    let medians: Vec<Duration> = walls.iter().map(|w| median(w.clone())).collect();
    let floor = medians[0];
    println!("# ecr-login benchmark ({iterations} interleaved runs each)");
    let cpu_medians: Vec<Duration> = cpus.iter().map(|c| median(c.clone())).collect();
    println!(
        "{:<40} {:>12} {:>12} {:>9} {:>12} {:>9} {:>14}",
        "command", "wall median", "wall p90", "x floor", "CPU median", "x floor", "peak RSS"
    );
    for (i, (name, _, _, _)) in runs.iter().enumerate() {
        println!(
            "{:<40} {:>12} {:>12} {:>9.2} {:>12} {:>9.2} {:>10} KiB",
            name,
            ms(medians[i]),
            ms(percentile(walls[i].clone(), 0.9)),
            medians[i].as_secs_f64() / floor.as_secs_f64(),
            ms(cpu_medians[i]),
            cpu_medians[i].as_secs_f64() / cpu_medians[0].as_secs_f64().max(1e-9),
            rss[i]
        );
    }
    if go.is_some() {
        for (what, ours_i, go_i) in [
            ("env keys", 1, go_first),
            ("credential_process", 2, go_first + 1),
        ] {
            let ratio = medians[go_i].as_secs_f64() / medians[ours_i].as_secs_f64();
            let over = |i: usize| (medians[i].saturating_sub(floor)).as_secs_f64() * 1000.0;
            println!(
                "Go helper / ecr-login on a hit ({what}): {ratio:.1}x in wall time; above the spawn floor: {:.3} ms vs {:.3} ms ({:.1}x)",
                over(go_i),
                over(ours_i),
                over(go_i) / over(ours_i).max(0.001)
            );
        }
    }

    // Cold: no cache, every call fetches from the loopback fake.
    let mut cold_env = s.env.clone();
    cold_env.push(("AWS_ECR_DISABLE_CACHE".into(), "1".into()));
    let mut cold = Vec::new();
    let mut cold_rss = 0;
    for _ in 0..cold_runs {
        let sample = measure(&mut command(&ours, &["get"], &cold_env), input);
        cold.push(sample.wall);
        cold_rss = cold_rss.max(sample.max_rss_kib);
    }
    println!(
        "{:<40} {:>12} {:>12} {:>9.2} {:>12} {:>9} {:>10} KiB",
        "ecr-login get (cold)",
        ms(median(cold.clone())),
        ms(percentile(cold.clone(), 0.9)),
        median(cold).as_secs_f64() / floor.as_secs_f64(),
        "",
        "",
        cold_rss
    );
    // Where a cold call's time goes, from the debug log.
    cold_env.push(("AWS_ECR_LOG_LEVEL".into(), "debug".into()));
    let out = command(&ours, &["get"], &cold_env)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().expect("stdin").write_all(input)?;
            c.wait_with_output()
        })
        .expect("cold debug run");
    println!("cold call breakdown (AWS_ECR_LOG_LEVEL=debug):");
    for line in String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains(" in "))
    {
        println!("  {line}");
    }

    // The herd: 64 concurrent cold calls for one region and identity.
    let herd = setup(&fake);
    fake.set_delay(Duration::from_millis(500));
    let before = fake.total();
    let started = Instant::now();
    let children: Vec<_> = (0..64)
        .map(|_| {
            let mut c = command(&ours, &["get"], &herd.env);
            c.stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let mut child = c.spawn().expect("spawn");
            let _ = child.stdin.take().expect("stdin").write_all(input);
            child
        })
        .collect();
    let ok = children
        .into_iter()
        .filter_map(|mut c| c.wait().ok())
        .filter(|s| s.success())
        .count();
    println!(
        "herd: 64 concurrent cold gets, endpoint answering after 500 ms: {} wall, {ok}/64 succeeded, {} API call(s)",
        ms(started.elapsed()),
        fake.total() - before
    );
    for bin in std::iter::once(&ours).chain(extras.iter().map(|(_, bin)| bin)) {
        let size = std::fs::metadata(bin).map(|m| m.len()).unwrap_or(0);
        println!(
            "binary size: {:.2} MiB ({})",
            size as f64 / 1048576.0,
            bin.display()
        );
    }
}
