//! End to end with a real Docker engine (Debian's dockerd 20.10, its CLI and BuildKit), the
//! Docker SDK for Python, podman and buildah, through the helper, against Debian's
//! `docker-registry` with TLS and htpasswd Basic auth whose only password is the one the fake
//! ECR issues: a push or pull that succeeds proves the helper's token was used.
//!
//! Everything runs in a private mount and network namespace (`support::engine`): the ECR host
//! names resolve to a registry on 10.254.0.1 and a registry that is not ECR (no auth) on
//! 10.254.0.2, addresses that exist only there; the fake AWS endpoint listens on the
//! namespace's loopback. dockerd starts once per test function, with directories of its own,
//! and every scenario gets its own Docker config, HOME and token cache, so each starts cold and
//! its helper runs and API calls are counted alone. The helper is reached through a wrapper
//! script on `PATH` that records each action before running the real binary.

use crate::support;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;
use support::e2e::*;
use support::engine::*;
use support::*;

const PRIVATE: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com";
const PUBLIC: &str = "public.ecr.aws";
/// A registry that is not ECR, without auth.
const MIRROR: &str = "mirror.registry.test";
const REGISTRY_ADDR: &str = "10.254.0.1";
const MIRROR_ADDR: &str = "10.254.0.2";
/// The ECR API host of `REGION`, which Debian's Go helper calls (it ignores
/// `AWS_ENDPOINT_URL*`): a TLS front to the fake listens there.
const API_HOST: &str = "api.ecr.us-west-2.amazonaws.com";
const API_ADDR: &str = "10.254.0.3";
/// The region of `PRIVATE`, which is also the callers' configured region: the fake's tokens
/// name `123456789012.dkr.ecr.<region>.amazonaws.com` as the default registry.
const REGION: &str = "us-west-2";

/// Field order is drop order: dockerd, then the registries, then the namespace, then the temp
/// directories.
struct World {
    dockerd: Dockerd,
    _registry: Registry,
    _mirror: Registry,
    ns: Namespace,
    env: TestEnv,
    pki: Pki,
    password: String,
    busybox: PathBuf,
    context: PathBuf,
    /// One line per scenario: helper runs and API calls.
    report: RefCell<Vec<String>>,
    /// Every client's output and everything the helper printed, for the secrets check.
    transcript: RefCell<String>,
}

struct Scenario<'w> {
    world: &'w World,
    name: String,
    /// The name as a path component and image tag.
    slug: String,
    dir: PathBuf,
    vars: BTreeMap<String, String>,
    first_call: usize,
}

/// Whether everything the test needs is here; with `CI=true` a missing piece fails the test.
fn tools_present(extra: &[&str]) -> bool {
    let mut tools = vec![
        "dockerd",
        "docker-registry",
        "htpasswd",
        "openssl",
        "unshare",
        "nsenter",
        "ip",
        "tar",
        "dpkg-deb",
        "apt-get",
    ];
    tools.extend_from_slice(extra);
    let all = tools.iter().filter(|t| !require_tool(t)).count() == 0
        && Path::new("/usr/bin/docker").exists();
    if !all && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("/usr/bin/docker (docker.io) is not installed; .ci/run must install it");
    }
    all && require_root()
}

fn password() -> String {
    format!(
        "e2e-docker-pw-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    )
}

/// The namespace, the fake AWS inside it, the registries, dockerd, and the base image loaded
/// into dockerd as `e2e/busybox:base`. `None` when busybox-static cannot be had (skipped).
fn setup(dir: &Path) -> Option<World> {
    let ns = Namespace::new(
        &dir.join("ns"),
        &[
            (PRIVATE, REGISTRY_ADDR),
            (PUBLIC, REGISTRY_ADDR),
            (MIRROR, MIRROR_ADDR),
            (API_HOST, API_ADDR),
        ],
    );
    let busybox = busybox_tar(&dir.join("busybox"))?;
    let mut env = TestEnv::with_aws(ns.fake_aws());
    let url = env.aws.url();
    for var in [
        "AWS_ENDPOINT_URL_ECR",
        "AWS_ENDPOINT_URL_ECR_PUBLIC",
        "AWS_ENDPOINT_URL_STS",
    ] {
        env.set(var, url.clone());
    }
    let password = password();
    env.aws.set_password(&password);
    let pki = make_pki(&dir.join("pki"), &[PRIVATE, PUBLIC, MIRROR, API_HOST]);
    for host in [PRIVATE, PUBLIC, MIRROR] {
        ns.trust(host, &pki.ca_file);
    }
    let htpasswd = dir.join("htpasswd");
    make_htpasswd(&htpasswd, "AWS", &password);
    let registry = Registry::start_in(
        Some(&ns),
        &dir.join("registry"),
        format!("{REGISTRY_ADDR}:443").parse().unwrap(),
        &pki,
        Some(&htpasswd),
    );
    let mirror = Registry::start_in(
        Some(&ns),
        &dir.join("mirror"),
        format!("{MIRROR_ADDR}:443").parse().unwrap(),
        &pki,
        None,
    );
    let dockerd = Dockerd::start(&ns, &dir.join("dockerd"));
    let context = dir.join("context");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::write(context.join("hello.txt"), "hello from ecr-login\n").unwrap();
    let world = World {
        dockerd,
        _registry: registry,
        _mirror: mirror,
        ns,
        env,
        pki,
        password,
        busybox,
        context,
        report: RefCell::new(Vec::new()),
        transcript: RefCell::new(String::new()),
    };
    Some(world)
}

impl World {
    fn scenario(&self, name: &str) -> Scenario<'_> {
        let slug: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        let dir = self.env.dir.path().join("scenarios").join(&slug);
        for sub in ["home", "xdg-run", "xdg-config", "tmp", "docker", "bin"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        // The wrapper records each action, then is the helper.
        let wrapper = dir.join("bin/docker-credential-ecr-login");
        std::fs::write(
            &wrapper,
            "#!/bin/sh\nprintf '%s\\n' \"$1\" >> \"$ECR_LOGIN_E2E_CALLS\"\nexec \"$ECR_LOGIN_E2E_REAL\" \"$@\"\n",
        )
        .unwrap();
        std::fs::set_permissions(
            &wrapper,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let s = |p: PathBuf| p.display().to_string();
        let mut vars = self.env.vars.clone();
        for (k, v) in [
            (
                "PATH",
                format!(
                    "{}:/usr/sbin:/usr/bin:/sbin:/bin",
                    dir.join("bin").display()
                ),
            ),
            ("HOME", s(dir.join("home"))),
            ("XDG_RUNTIME_DIR", s(dir.join("xdg-run"))),
            ("XDG_CONFIG_HOME", s(dir.join("xdg-config"))),
            ("TMPDIR", s(dir.join("tmp"))),
            ("DOCKER_CONFIG", s(dir.join("docker"))),
            ("DOCKER_HOST", self.dockerd.host()),
            ("AWS_ECR_CACHE_DIR", s(dir.join("cache"))),
            ("AWS_REGION", REGION.to_string()),
            ("ECR_LOGIN_E2E_CALLS", s(dir.join("helper-calls"))),
            ("ECR_LOGIN_E2E_REAL", s(bin())),
        ] {
            vars.insert(k.to_string(), v);
        }
        Scenario {
            world: self,
            name: name.to_string(),
            slug,
            dir,
            vars,
            first_call: self.env.aws.total(),
        }
    }

    fn docker_setup(&self, args: &[&str]) {
        let s = self.scenario("setup");
        s.docker_ok(args, b"");
    }
}

impl Scenario<'_> {
    fn run(&self, program: &str, args: &[&str], stdin: &[u8]) -> Output {
        let mut cmd = self.world.ns.command(program);
        cmd.args(args).env_clear().envs(&self.vars);
        let out = run_bounded(cmd, stdin, Duration::from_secs(180));
        let mut t = self.world.transcript.borrow_mut();
        t.push_str(&String::from_utf8_lossy(&out.stdout));
        t.push_str(&String::from_utf8_lossy(&out.stderr));
        out
    }

    fn docker(&self, args: &[&str], stdin: &[u8]) -> Output {
        self.run("/usr/bin/docker", args, stdin)
    }

    fn docker_ok(&self, args: &[&str], stdin: &[u8]) -> Output {
        let out = self.docker(args, stdin);
        self.expect_ok(&out, &format!("docker {}", args.join(" ")));
        out
    }

    fn expect_ok(&self, out: &Output, what: &str) {
        assert!(
            out.status.success(),
            "{}: {what} failed:\nstdout: {}\nstderr: {}",
            self.name,
            stdout(out),
            stderr(out)
        );
    }

    fn expect_failure(&self, out: &Output, what: &str) -> String {
        assert!(
            !out.status.success(),
            "{}: {what} succeeded:\n{}",
            self.name,
            stdout(out)
        );
        format!("{}{}", stdout(out), stderr(out))
    }

    fn docker_config(&self, value: serde_json::Value) {
        std::fs::write(self.dir.join("docker/config.json"), value.to_string()).unwrap();
    }

    fn docker_config_text(&self) -> String {
        std::fs::read_to_string(self.dir.join("docker/config.json")).unwrap_or_default()
    }

    /// The helper's runs so far, by action.
    fn helper_calls(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        let text = std::fs::read_to_string(self.dir.join("helper-calls")).unwrap_or_default();
        for action in text.lines() {
            *counts.entry(action.to_string()).or_default() += 1;
        }
        counts
    }

    /// The API calls made since the scenario began, by service.
    fn api_calls(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for call in &self.world.env.aws.calls()[self.first_call..] {
            *counts.entry(call.service.clone()).or_default() += 1;
        }
        counts
    }

    /// Asserts the API calls (`expected` by service) and records the scenario's figures.
    fn finish(&self, expected: &[(&str, usize)]) {
        let expected: BTreeMap<String, usize> =
            expected.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        assert_eq!(self.api_calls(), expected, "{}: API calls", self.name);
        self.record_figures();
    }

    fn record_figures(&self) {
        let line = format!(
            "{}: helper runs {:?}, API calls {:?}",
            self.name,
            self.helper_calls(),
            self.api_calls()
        );
        eprintln!("{line}");
        self.world.report.borrow_mut().push(line);
    }

    fn record_output(&self, out: &Output) {
        let mut t = self.world.transcript.borrow_mut();
        t.push_str(&String::from_utf8_lossy(&out.stdout));
        t.push_str(&String::from_utf8_lossy(&out.stderr));
    }

    /// Pushes the base image as `reference`, removes it locally and pulls it back.
    fn push_and_pull(&self, reference: &str) {
        self.docker_ok(&["tag", "e2e/busybox:base", reference], b"");
        self.docker_ok(&["push", "-q", reference], b"");
        self.docker_ok(&["rmi", reference], b"");
        self.docker_ok(&["pull", "-q", reference], b"");
    }

    /// A build whose `FROM` is `from`, with BuildKit or the legacy builder; `--pull`, so the
    /// base comes from the registry even though dockerd holds it.
    fn build(&self, buildkit: bool, from: &[&str]) -> Output {
        let dockerfile = self.dir.join("Dockerfile");
        let mut text = String::new();
        for (i, image) in from.iter().enumerate() {
            text.push_str(&format!("FROM {image} AS stage{i}\n"));
        }
        text.push_str("COPY hello.txt /hello.txt\n");
        std::fs::write(&dockerfile, text).unwrap();
        let mut cmd = self.world.ns.command("/usr/bin/docker");
        let context = self.world.context.display().to_string();
        let file = dockerfile.display().to_string();
        let tag = format!("e2e/built-{}", self.slug);
        cmd.args(["build", "--pull", "-q", "-f", &file, "-t", &tag, &context])
            .env_clear()
            .envs(&self.vars)
            .env("DOCKER_BUILDKIT", if buildkit { "1" } else { "0" });
        let out = run_bounded(cmd, b"", Duration::from_secs(180));
        let mut t = self.world.transcript.borrow_mut();
        t.push_str(&String::from_utf8_lossy(&out.stdout));
        t.push_str(&String::from_utf8_lossy(&out.stderr));
        out
    }

    fn podman_args(&self) -> Vec<String> {
        let storage = self.world.env.dir.path().join("podman");
        let s = |p: PathBuf| p.display().to_string();
        vec![
            "--root".into(),
            s(storage.join("root")),
            "--runroot".into(),
            s(storage.join("runroot")),
            "--storage-driver".into(),
            "vfs".into(),
        ]
    }

    fn podman(&self, args: &[&str]) -> Output {
        let storage = self.world.env.dir.path().join("podman");
        let tmp = storage.join("tmp").display().to_string();
        let mut all = self.podman_args();
        all.extend(
            [
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "file",
                "--tmpdir",
                &tmp,
            ]
            .map(String::from),
        );
        all.extend(args.iter().map(|a| a.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let out = self.run("podman", &all, b"");
        self.expect_ok(&out, &format!("podman {}", args.join(" ")));
        out
    }

    fn buildah(&self, args: &[&str]) -> Output {
        let mut all = self.podman_args();
        all.extend(args.iter().map(|a| a.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let out = self.run("buildah", &all, b"");
        self.expect_ok(&out, &format!("buildah {}", args.join(" ")));
        out
    }
}

fn cred_helpers(hosts: &[&str]) -> serde_json::Value {
    let map: serde_json::Map<String, serde_json::Value> = hosts
        .iter()
        .map(|h| (h.to_string(), serde_json::Value::from("ecr-login")))
        .collect();
    serde_json::json!({ "credHelpers": map })
}

fn creds_store() -> serde_json::Value {
    serde_json::json!({ "credsStore": "ecr-login" })
}

#[test]
fn docker_engine_podman_and_buildah_through_the_helper() {
    if !tools_present(&["podman", "buildah"]) || !support::e2e::require_python_docker() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(world) = setup(dir.path()) else {
        return;
    };
    let tar = world.busybox.display().to_string();
    world.docker_setup(&["import", &tar, "e2e/busybox:base"]);

    cred_helpers_push_pull_and_buildkit(&world);
    without_the_helper_the_registry_refuses(&world);
    creds_store_push_pull_and_buildkit(&world);
    creds_store_and_a_registry_that_is_not_ecr(&world);
    legacy_builder_on_a_cold_cache(&world);
    python_sdk_build_on_a_cold_cache(&world);
    login_and_logout(&world);
    login_and_logout_ignoring_storage(&world);
    podman_and_buildah(&world, true);
    podman_and_buildah(&world, false);
    herd_of_cold_pulls(&world, dir.path());

    // Nothing any client printed holds a secret.
    let transcript = world.transcript.borrow();
    for secret in [world.password.as_str(), SECRET_KEY] {
        assert!(
            !transcript.contains(secret),
            "a secret appeared in a client's output"
        );
    }
    eprintln!(
        "e2e_docker summary:\n  {}",
        world.report.borrow().join("\n  ")
    );
}

/// `credHelpers` for a private host and ECR Public: push, pull, and a BuildKit `FROM` each.
/// The Docker CLI runs one `get` per registry per command, BuildKit one per build.
fn cred_helpers_push_pull_and_buildkit(world: &World) {
    let s = world.scenario("credHelpers push, pull, BuildKit FROM");
    s.docker_config(cred_helpers(&[PRIVATE, PUBLIC]));
    for host in [PRIVATE, PUBLIC] {
        s.push_and_pull(&format!("{host}/e2e/busybox:1"));
        let out = s.build(true, &[&format!("{host}/e2e/busybox:1")]);
        s.expect_ok(&out, &format!("BuildKit FROM {host}"));
    }
    s.finish(&[("ecr", 1), ("ecr-public", 1)]);
}

/// The control: without the helper the registry refuses a push, a pull and a BuildKit build
/// (the password exists only in the fake's answer), so every success here is the helper's.
fn without_the_helper_the_registry_refuses(world: &World) {
    let s = world.scenario("control: no helper");
    s.docker_config(serde_json::json!({}));
    let reference = format!("{PRIVATE}/e2e/busybox:control");
    s.docker_ok(&["tag", "e2e/busybox:base", &reference], b"");
    let text = s.expect_failure(&s.docker(&["push", &reference], b""), "push");
    assert!(text.contains("no basic auth credentials"), "{text}");
    let text = s.expect_failure(
        &s.docker(&["pull", &format!("{PRIVATE}/e2e/busybox:1")], b""),
        "pull",
    );
    assert!(
        text.contains("no basic auth credentials") || text.contains("unauthorized"),
        "{text}"
    );
    let out = s.build(true, &[&format!("{PRIVATE}/e2e/busybox:1")]);
    let text = s.expect_failure(&out, "BuildKit build");
    assert!(
        text.contains("401") || text.contains("nauthorized"),
        "{text}"
    );
    assert!(s.helper_calls().is_empty());
    s.finish(&[]);
}

/// `"credsStore": "ecr-login"`: the same through the default store.
fn creds_store_push_pull_and_buildkit(world: &World) {
    let s = world.scenario("credsStore push, pull, BuildKit FROM");
    s.docker_config(creds_store());
    for host in [PRIVATE, PUBLIC] {
        s.push_and_pull(&format!("{host}/e2e/busybox:2"));
        let out = s.build(true, &[&format!("{host}/e2e/busybox:2")]);
        s.expect_ok(&out, &format!("BuildKit FROM {host}"));
    }
    s.finish(&[("ecr", 1), ("ecr-public", 1)]);
}

/// A registry that is not ECR under `credsStore`: the helper is asked, answers "not found"
/// without a word on stderr, and Docker goes on anonymously.
fn creds_store_and_a_registry_that_is_not_ecr(world: &World) {
    let s = world.scenario("credsStore, registry that is not ECR");
    s.docker_config(creds_store());
    let reference = format!("{MIRROR}/e2e/busybox:anonymous");
    s.docker_ok(&["tag", "e2e/busybox:base", &reference], b"");
    for args in [
        &["push", "-q", &reference][..],
        &["rmi", &reference],
        &["pull", "-q", &reference],
    ] {
        let out = s.docker_ok(args, b"");
        assert!(
            !stderr(&out).contains("ecr-login"),
            "the helper spoke: {}",
            stderr(&out)
        );
    }
    assert!(s.helper_calls().get("get").is_some_and(|n| *n >= 2));
    s.finish(&[]);
}

/// The legacy builder calls `list`, then `get` for each registry listed, and gives the build
/// only those. On a cold cache the old `list` answered `{}`, so a `FROM` on ECR failed with
/// `no basic auth credentials`; shown here by a cold `list` that AWS refuses, which names
/// nothing. Now a cold `list` names the default registry and ECR Public and the build pulls
/// both.
fn legacy_builder_on_a_cold_cache(world: &World) {
    let froms = [
        format!("{PRIVATE}/e2e/busybox:1"),
        format!("{PUBLIC}/e2e/busybox:1"),
    ];
    let froms: Vec<&str> = froms.iter().map(String::as_str).collect();

    let s = world.scenario("legacy builder, credsStore, list names nothing");
    s.docker_config(creds_store());
    world.env.aws.always(Reply::AccessDenied);
    let out = s.build(false, &froms);
    world.env.aws.always(Reply::Token);
    let text = s.expect_failure(&out, "legacy build with an empty list");
    assert!(text.contains("no basic auth credentials"), "{text}");
    assert_eq!(s.helper_calls().get("list"), Some(&1));
    assert_eq!(
        s.helper_calls().get("get"),
        None,
        "nothing listed, nothing got"
    );
    s.finish(&[("ecr", 1), ("ecr-public", 1)]);

    let s = world.scenario("legacy builder, credsStore, cold cache");
    s.docker_config(creds_store());
    let out = s.build(false, &froms);
    s.expect_ok(&out, "legacy build on a cold cache");
    assert_eq!(s.helper_calls().get("list"), Some(&1));
    s.finish(&[("ecr", 1), ("ecr-public", 1)]);
}

/// The Docker SDK for Python's `images.build` collects credentials the same way.
fn python_sdk_build_on_a_cold_cache(world: &World) {
    let s = world.scenario("Docker SDK for Python images.build, credsStore, cold cache");
    s.docker_config(creds_store());
    let dockerfile = world.context.join("Dockerfile");
    std::fs::write(
        &dockerfile,
        format!(
            "FROM {PRIVATE}/e2e/busybox:1 AS private\nFROM {PUBLIC}/e2e/busybox:1\nCOPY --from=private /bin/busybox /private-busybox\nCOPY hello.txt /hello.txt\n"
        ),
    )
    .unwrap();
    let script = s.dir.join("build.py");
    std::fs::write(&script, PYTHON_BUILD).unwrap();
    let context = world.context.display().to_string();
    let out = s.run(
        "/usr/bin/python3",
        &[&script.display().to_string(), &context, "e2e/sdk-built"],
        b"",
    );
    std::fs::remove_file(&dockerfile).unwrap();
    s.expect_ok(&out, "images.build");
    assert!(stdout(&out).contains("sha256:"), "{}", stdout(&out));
    assert_eq!(s.helper_calls().get("list"), Some(&1));
    s.finish(&[("ecr", 1), ("ecr-public", 1)]);
}

/// `pull=True` makes dockerd fetch both bases from the registry with what the SDK collected.
const PYTHON_BUILD: &str = r#"
import sys
import docker

client = docker.from_env(timeout=120)
image, _ = client.images.build(path=sys.argv[1], tag=sys.argv[2], pull=True, rm=True)
print(image.id)
"#;

/// `docker login` and `logout` with the helper as `credsStore`, as users following the AWS
/// docs run them.
fn login_and_logout(world: &World) {
    let s = world.scenario("docker login and logout, credsStore");
    s.docker_config(creds_store());
    let password = world.password.as_bytes();

    // Without a user name the CLI asks the helper (`get`) and logs in with the token.
    let out = s.docker_ok(&["login", PRIVATE], b"");
    assert!(stdout(&out).contains("Login Succeeded"), "{}", stdout(&out));
    assert!(stderr(&out).contains("not kept"), "{}", stderr(&out));
    // As the AWS docs have it: `aws ecr get-login-password | docker login -u AWS ...`.
    for host in [PRIVATE, PUBLIC] {
        let out = s.docker_ok(&["login", "-u", "AWS", "--password-stdin", host], password);
        assert!(stdout(&out).contains("Login Succeeded"));
        assert!(stderr(&out).contains("not kept"), "{}", stderr(&out));
        let out = s.docker_ok(&["logout", host], b"");
        assert!(
            !stderr(&out).contains("could not erase"),
            "{}",
            stderr(&out)
        );
        // Docker erases four spellings of the address; the note comes once.
        assert_eq!(
            stderr(&out).matches("nothing to erase").count(),
            1,
            "{}",
            stderr(&out)
        );
    }
    // Pulls go on after a logout: the tokens come from AWS credentials.
    s.docker_ok(&["pull", "-q", &format!("{PRIVATE}/e2e/busybox:1")], b"");

    // Another registry: the registry accepts the login, the helper refuses to keep it and
    // says how to route ECR hosts instead; the logout is quiet.
    let out = s.docker(
        &["login", "-u", "someone", "--password-stdin", MIRROR],
        b"typed-password",
    );
    let text = s.expect_failure(&out, "docker login to a registry that is not ECR");
    assert!(
        text.contains("credHelpers") && text.contains("configure"),
        "{text}"
    );
    let out = s.docker_ok(&["logout", MIRROR], b"");
    assert!(
        !stderr(&out).contains("could not erase"),
        "{}",
        stderr(&out)
    );
    let config = s.docker_config_text();
    assert!(!config.contains(&world.password) && !config.contains("typed-password"));
    s.finish(&[("ecr", 1)]);
}

/// `AWS_ECR_IGNORE_CREDS_STORAGE=true` keeps the Go helper's meaning: silent no-ops.
fn login_and_logout_ignoring_storage(world: &World) {
    let mut s = world.scenario("docker login and logout, credsStore, ignore storage");
    s.vars
        .insert("AWS_ECR_IGNORE_CREDS_STORAGE".into(), "true".into());
    s.docker_config(creds_store());
    for (host, password) in [
        (PRIVATE, world.password.as_bytes()),
        (MIRROR, &b"typed-password"[..]),
    ] {
        let out = s.docker_ok(&["login", "-u", "AWS", "--password-stdin", host], password);
        assert!(stdout(&out).contains("Login Succeeded"));
        assert!(!stderr(&out).contains("ecr-login"), "{}", stderr(&out));
        let out = s.docker_ok(&["logout", host], b"");
        assert!(!stderr(&out).contains("could not erase"));
    }
    let config = s.docker_config_text();
    assert!(!config.contains(&world.password) && !config.contains("typed-password"));
    s.finish(&[]);
}

/// podman and buildah read `credHelpers` from the containers auth file (`REGISTRY_AUTH_FILE`)
/// or from Docker's `config.json`; they call `get` twice per push or pull.
fn podman_and_buildah(world: &World, auth_file: bool) {
    let name = if auth_file {
        "podman and buildah, credHelpers in REGISTRY_AUTH_FILE"
    } else {
        "podman and buildah, credHelpers in Docker's config.json"
    };
    let mut s = world.scenario(name);
    let helpers = cred_helpers(&[PRIVATE, PUBLIC]);
    if auth_file {
        let path = s.dir.join("auth.json");
        std::fs::write(&path, helpers.to_string()).unwrap();
        s.vars.insert("REGISTRY_AUTH_FILE".into(), path_str(&path));
        s.vars
            .insert("DOCKER_CONFIG".into(), path_str(&s.dir.join("no-docker")));
    } else {
        s.docker_config(helpers);
    }
    let tag = if auth_file {
        "auth-file"
    } else {
        "docker-config"
    };
    let tar = world.busybox.display().to_string();
    s.podman(&["import", "-q", &tar, "localhost/e2e/busybox:base"]);
    for host in [PRIVATE, PUBLIC] {
        let reference = format!("{host}/e2e/busybox:podman-{tag}");
        s.podman(&["tag", "localhost/e2e/busybox:base", &reference]);
        s.podman(&["push", "-q", &reference]);
        s.podman(&["rmi", &reference]);
        s.podman(&["pull", "-q", &reference]);
        s.podman(&["rmi", &reference]);
        s.buildah(&["pull", "-q", "--policy", "always", &reference]);
        let pushed = format!("{host}/e2e/busybox:buildah-{tag}");
        s.buildah(&["push", "-q", &reference, &pushed]);
        s.podman(&["rmi", &reference]);
    }
    if auth_file {
        assert!(!s.dir.join("no-docker").exists());
    }
    s.finish(&[("ecr", 1), ("ecr-public", 1)]);
}

/// Eight `docker pull`s at once on a cold cache: one `GetAuthorizationToken` for all of them
/// (the refresh lock), asserted. Debian's Go helper runs the same scenario beside ours when it
/// can be had, and its count is reported (not asserted: it is not ours to fix).
fn herd_of_cold_pulls(world: &World, dir: &Path) {
    let ours = herd(world, "8 concurrent cold docker pulls, ecr-login", None);
    assert_eq!(ours, 1, "a herd of cold pulls made {ours} API calls");

    let Some(binary) = go_helper(dir) else {
        return;
    };
    let _front = tls_front(world, dir);
    let go_calls = herd(
        world,
        "8 concurrent cold docker pulls, Debian's Go helper 0.6.0",
        Some((&binary, &world.pki.ca_file)),
    );
    assert!(go_calls >= 1);
    eprintln!("herd of 8 cold pulls: ecr-login {ours} API call(s), the Go helper {go_calls}");
}

/// Debian's Go helper, unpacked (never installed), or `None` outside CI when it cannot be had.
fn go_helper(dir: &Path) -> Option<PathBuf> {
    let Some(go) = extract_deb(
        &dir.join("go-helper"),
        "amazon-ecr-credential-helper",
        "ECR_LOGIN_GO_HELPER_DEB",
    ) else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("apt-get download amazon-ecr-credential-helper failed");
        }
        eprintln!("SKIPPED: the Go helper (amazon-ecr-credential-helper) cannot be had");
        return None;
    };
    Some(go.join("usr/bin/docker-credential-ecr-login"))
}

/// A TLS front for the fake at the ECR API host, which the Go helper calls (it ignores
/// `AWS_ENDPOINT_URL*`); it trusts the test CA through `SSL_CERT_FILE`, which Go reads in place
/// of the system bundle. Stopped when the guard drops.
fn tls_front(world: &World, dir: &Path) -> Guarded {
    let script = dir.join("tls-front.py");
    std::fs::write(&script, TLS_FRONT).unwrap();
    let mut front = world
        .ns
        .command("/usr/bin/python3")
        .arg(&script)
        .arg(&world.pki.cert)
        .arg(&world.pki.key)
        .arg(API_ADDR)
        .arg(world.env.aws.port().to_string())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the TLS front");
    let ready = {
        use std::io::BufRead;
        let mut line = String::new();
        let stdout = front.stdout.take().unwrap();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap();
        line
    };
    let front = Guarded(front);
    assert_eq!(ready.trim(), "ready", "the TLS front did not start");
    front
}

/// Runs the herd with our helper, or with `go` (binary, CA file); returns the ECR API calls.
fn herd(world: &World, name: &str, go: Option<(&Path, &Path)>) -> usize {
    let mut s = world.scenario(name);
    s.docker_config(cred_helpers(&[PRIVATE]));
    if let Some((binary, ca)) = go {
        s.vars.insert("ECR_LOGIN_E2E_REAL".into(), path_str(binary));
        s.vars.insert("SSL_CERT_FILE".into(), path_str(ca));
    }
    let reference = format!("{PRIVATE}/e2e/busybox:1");
    let outputs: Vec<Output> = std::thread::scope(|scope| {
        let running: Vec<_> = (0..8)
            .map(|_| {
                let mut cmd = world.ns.command("/usr/bin/docker");
                cmd.args(["pull", "-q", &reference])
                    .env_clear()
                    .envs(&s.vars);
                scope.spawn(move || run_bounded(cmd, b"", Duration::from_secs(180)))
            })
            .collect();
        running.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for out in &outputs {
        s.record_output(out);
        s.expect_ok(out, "a concurrent pull");
    }
    assert_eq!(s.helper_calls().get("get"), Some(&8));
    s.record_figures();
    s.api_calls().get("ecr").copied().unwrap_or(0)
}

/// What the helper costs a user: warm `docker pull`s of an image that is up to date, and
/// BuildKit builds (`--pull`) with one `FROM` from the private registry and one from a registry
/// that is not ECR, through the real engine, with ecr-login, with Debian's Go helper, and with
/// the password in `auths` and no helper at all. Interleaved rounds; medians printed. A
/// benchmark, not a test: `scripts/bench-pull` runs it (`BENCH_PULL_ROUNDS`, default 15).
#[test]
#[ignore = "a benchmark: scripts/bench-pull runs it"]
fn pull_and_build_benchmark() {
    if !tools_present(&[]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(world) = setup(dir.path()) else {
        return;
    };
    let tar = world.busybox.display().to_string();
    world.docker_setup(&["import", &tar, "e2e/busybox:base"]);
    let image = format!("{PRIVATE}/e2e/busybox:1");
    let mirror = format!("{MIRROR}/e2e/busybox:1");
    let seed = world.scenario("bench seed");
    seed.docker_config(cred_helpers(&[PRIVATE]));
    seed.push_and_pull(&image);
    seed.push_and_pull(&mirror);

    let Some(go) = go_helper(dir.path()) else {
        return;
    };
    let _front = tls_front(&world, dir.path());
    let auth = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("AWS:{}", world.password),
    );
    let mut variants: Vec<(&str, Scenario<'_>)> = Vec::new();
    for name in ["ecr-login", "Go helper 0.6.0", "auths, no helper"] {
        let mut s = world.scenario(&format!("bench {name}"));
        match name {
            "ecr-login" => s.docker_config(cred_helpers(&[PRIVATE])),
            "auths, no helper" => {
                s.docker_config(serde_json::json!({"auths": {PRIVATE: {"auth": auth}}}))
            }
            _ => {
                s.docker_config(cred_helpers(&[PRIVATE]));
                s.vars.insert("ECR_LOGIN_E2E_REAL".into(), path_str(&go));
                s.vars
                    .insert("SSL_CERT_FILE".into(), path_str(&world.pki.ca_file));
            }
        }
        // Warm: the helper's cache is filled and the image is up to date.
        s.docker_ok(&["pull", "-q", &image], b"");
        s.expect_ok(&two_registry_build(&s, &image, &mirror), "a warm-up build");
        variants.push((name, s));
    }
    let rounds: usize = std::env::var("BENCH_PULL_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    let mut pulls: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    let mut builds: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for _ in 0..rounds {
        for (i, (_, s)) in variants.iter().enumerate() {
            let started = std::time::Instant::now();
            s.docker_ok(&["pull", "-q", &image], b"");
            pulls[i].push(started.elapsed().as_secs_f64() * 1000.0);
            let started = std::time::Instant::now();
            let out = two_registry_build(s, &image, &mirror);
            builds[i].push(started.elapsed().as_secs_f64() * 1000.0);
            s.expect_ok(&out, "a build");
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!("# what the helper costs a user ({rounds} interleaved rounds, medians)");
    println!(
        "{:<22} {:>20} {:>34}",
        "helper", "warm docker pull", "BuildKit build, 2 FROMs (--pull)"
    );
    for (i, (name, s)) in variants.iter().enumerate() {
        println!(
            "{:<22} {:>17.1} ms {:>31.1} ms   (helper runs: {:?})",
            name,
            median(&mut pulls[i]),
            median(&mut builds[i]),
            s.helper_calls()
        );
    }
}

/// A BuildKit build (`--pull`) whose final stage, from `last`, copies from a stage based on
/// `first`: both bases are resolved (BuildKit skips a stage nothing uses).
fn two_registry_build(s: &Scenario<'_>, first: &str, last: &str) -> Output {
    let dockerfile = s.dir.join("Dockerfile.two");
    std::fs::write(
        &dockerfile,
        format!("FROM {first} AS base\nFROM {last}\nCOPY --from=base / /base/\n"),
    )
    .unwrap();
    let mut cmd = s.world.ns.command("/usr/bin/docker");
    let context = s.world.context.display().to_string();
    let file = dockerfile.display().to_string();
    let tag = format!("e2e/two-{}", s.slug);
    cmd.args(["build", "--pull", "-q", "-f", &file, "-t", &tag, &context])
        .env_clear()
        .envs(&s.vars)
        .env("DOCKER_BUILDKIT", "1");
    run_bounded(cmd, b"", Duration::from_secs(180))
}

/// Terminates TLS on `addr:443` and passes each connection to the fake on the namespace's
/// loopback: the fake answers one request per connection and closes it.
const TLS_FRONT: &str = r#"
import socket, ssl, sys, threading

cert, key, addr, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server = socket.create_server((addr, 443))
print("ready", flush=True)

def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

def serve(conn):
    try:
        tls = context.wrap_socket(conn, server_side=True)
        upstream = socket.create_connection(("127.0.0.1", port))
    except OSError:
        conn.close()
        return
    threading.Thread(target=pipe, args=(upstream, tls), daemon=True).start()
    pipe(tls, upstream)

while True:
    conn, _ = server.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"#;

/// The static binary the container image is built from (`.ci/run` builds it and sets
/// `ECR_LOGIN_STATIC_BIN`): a dynamically linked one would not run on the busybox base.
fn static_binary() -> Option<PathBuf> {
    match std::env::var_os("ECR_LOGIN_STATIC_BIN") {
        Some(path) if !path.is_empty() => Some(PathBuf::from(path)),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("ECR_LOGIN_STATIC_BIN is not set; .ci/run builds the static binary");
            }
            eprintln!("SKIPPED: ECR_LOGIN_STATIC_BIN (a static binary) is not set");
            None
        }
    }
}

/// The published recipe (`packaging/container/Containerfile`), built by the real engine from
/// the repository's context with `BINARY=local` (a static binary just built) on a base made
/// from Debian's busybox-static, then its entrypoint run in a container against a plugin
/// directory, and the installed plugin run once there.
#[test]
fn container_image_builds_and_installs_the_plugin() {
    if !tools_present(&[]) {
        return;
    }
    let Some(binary) = static_binary() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ns = Namespace::new(&dir.path().join("ns"), &[]);
    let Some(busybox) = busybox_tar(&dir.path().join("busybox")) else {
        return;
    };
    let dockerd = Dockerd::start(&ns, &dir.path().join("dockerd"));
    let home = dir.path().join("home");
    std::fs::create_dir_all(home.join(".docker")).unwrap();
    let docker = |args: &[&str], stdin: &[u8]| -> Output {
        let mut cmd = ns.command("/usr/bin/docker");
        cmd.args(args)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("HOME", &home)
            .env("DOCKER_CONFIG", home.join(".docker"))
            .env("DOCKER_HOST", dockerd.host())
            .env("DOCKER_BUILDKIT", "1");
        run_bounded(cmd, stdin, Duration::from_secs(300))
    };
    let ok = |args: &[&str], stdin: &[u8]| -> Output {
        let out = docker(args, stdin);
        assert!(
            out.status.success(),
            "docker {}: {}{}",
            args.join(" "),
            stdout(&out),
            stderr(&out)
        );
        out
    };
    ok(
        &["import", &path_str(&busybox), "e2e/busybox-static:base"],
        b"",
    );

    // The one file of target/ that .dockerignore lets into the context.
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let staged = repo.join("target/container/docker-credential-ecr-login");
    std::fs::create_dir_all(staged.parent().unwrap()).unwrap();
    std::fs::copy(&binary, &staged).unwrap();
    let recipe = repo.join("packaging/container/Containerfile");
    ok(
        &[
            "build",
            "-q",
            "-f",
            &path_str(&recipe),
            "--build-arg",
            "BINARY=local",
            "--build-arg",
            "BASE=e2e/busybox-static:base",
            "-t",
            "e2e/ecr-login:local",
            &path_str(&repo),
        ],
        b"",
    );

    // The entrypoint without the host directory: a clear error, nothing installed.
    let out = docker(
        &["run", "--rm", "--network", "none", "e2e/ecr-login:local"],
        b"",
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is not a directory"),
        "{}",
        stderr(&out)
    );

    // With the node's plugin directory mounted, as in the README.
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let mount = format!(
        "{}:/host/usr/libexec/kubernetes/kubelet-plugins/credential-provider/exec",
        plugins.display()
    );
    let out = ok(
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            &mount,
            "e2e/ecr-login:local",
        ],
        b"",
    );
    assert!(
        stdout(&out).contains("installed /host/usr/libexec/kubernetes/kubelet-plugins/credential-provider/exec/ecr-credential-provider: docker-credential-ecr-login (ecr-login)"),
        "{}",
        stdout(&out)
    );
    let installed = plugins.join("ecr-credential-provider");
    assert_eq!(
        std::fs::read(&installed).unwrap(),
        std::fs::read(&binary).unwrap(),
        "the installed plugin is not the binary"
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&installed).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o755);
    let names: Vec<_> = std::fs::read_dir(&plugins).unwrap().flatten().collect();
    assert_eq!(names.len(), 1, "the installer left other files");

    // The installed plugin, run as the kubelet runs it, in the image's busybox world.
    let plugin_mount = format!("{}:/plugins:ro", plugins.display());
    let plugin = |stdin: &[u8], args: &[&str]| -> Output {
        let mut all = vec![
            "run",
            "--rm",
            "-i",
            "--network",
            "none",
            "-e",
            "AWS_EC2_METADATA_DISABLED=true",
            "-v",
            &plugin_mount,
            "--entrypoint",
            "/plugins/ecr-credential-provider",
            "e2e/ecr-login:local",
        ];
        all.extend_from_slice(args);
        docker(&all, stdin)
    };
    let out = plugin(b"", &["--version"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("ecr-credential-provider (ecr-login) "),
        "{}",
        stdout(&out)
    );
    // A request for an ECR image with no AWS credentials anywhere: fails cleanly, as the
    // kubelet expects (exit 1, nothing on stdout, the cause on stderr).
    let request = format!(
        r#"{{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":"{PRIVATE}/app:1"}}"#
    );
    let out = plugin(request.as_bytes(), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("no AWS credentials"),
        "{}",
        stderr(&out)
    );
    eprintln!(
        "container image: built from {} with the engine, installer and plugin ran",
        binary.display()
    );
}
