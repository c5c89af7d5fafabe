//! End to end with real clients: skopeo and the Docker SDK for Python, through the helper, against
//! Debian's `docker-registry` with TLS and htpasswd Basic auth whose only password is the one the
//! fake ECR issues. So a push that succeeds proves the helper's token was used.
//!
//! The registry listens on 127.0.0.1:443 and the ECR host names resolve there only inside a
//! private mount namespace (`unshare -m` with a bind-mounted hosts file). One test function runs
//! every scenario in turn, under a file lock, because only one registry can own port 443.

use crate::support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;
use support::e2e::*;
use support::*;

const PRIVATE: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com";
const DUAL_STACK: &str = "123456789012.dkr-ecr.us-west-2.on.aws";
const PUBLIC: &str = "public.ecr.aws";
const ECR_HOSTS: [&str; 3] = [PRIVATE, DUAL_STACK, PUBLIC];
/// A registry that is not ECR, without auth, on another loopback port.
const MIRROR: &str = "mirror.registry.test";

struct World {
    env: TestEnv,
    pki: Pki,
    image: OciImage,
    hosts_file: PathBuf,
    mirror: String,
    password: String,
    /// Everything any client printed on stderr, and the helper's logs, for the secrets check.
    transcript: String,
    _registry: Registry,
    _mirror: Registry,
}

/// One client configuration: its own HOME, XDG dirs, Docker config dir and token cache, so that
/// each scenario starts cold and its API calls can be counted alone.
struct Scenario<'w> {
    world: &'w World,
    dir: PathBuf,
    vars: BTreeMap<String, String>,
    first_call: usize,
}

impl World {
    fn scenario(&self, name: &str) -> Scenario<'_> {
        let dir = self.env.dir.path().join("scenarios").join(name);
        for sub in ["home", "xdg-run", "xdg-config", "tmp", "docker"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let mut vars = self.env.vars.clone();
        let bin_dir = bin().parent().unwrap().to_path_buf();
        let s = |p: PathBuf| p.display().to_string();
        vars.insert(
            "PATH".into(),
            format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", bin_dir.display()),
        );
        vars.insert("HOME".into(), s(dir.join("home")));
        vars.insert("XDG_RUNTIME_DIR".into(), s(dir.join("xdg-run")));
        vars.insert("XDG_CONFIG_HOME".into(), s(dir.join("xdg-config")));
        vars.insert("TMPDIR".into(), s(dir.join("tmp")));
        vars.insert("DOCKER_CONFIG".into(), s(dir.join("docker")));
        vars.insert("AWS_ECR_CACHE_DIR".into(), s(dir.join("cache")));
        vars.insert("AWS_ECR_LOG_LEVEL".into(), "debug".into());
        vars.insert("AWS_ECR_LOG_FILE".into(), s(dir.join("helper.log")));
        Scenario {
            world: self,
            dir,
            vars,
            first_call: self.env.aws.total(),
        }
    }
}

impl Scenario<'_> {
    fn client(&self, program: &str) -> Command {
        let mut cmd = in_namespace(&self.world.hosts_file, program);
        cmd.env_clear().envs(&self.vars);
        cmd
    }

    fn skopeo(&self, args: &[&str]) -> Output {
        let mut cmd = self.client("skopeo");
        cmd.arg("--insecure-policy").args(args);
        run_bounded(cmd, b"", Duration::from_secs(120))
    }

    fn push(&self, reference: &str, extra: &[&str]) -> Output {
        let src = format!("oci:{}:latest", self.world.image.layout.display());
        let dst = format!("docker://{reference}");
        let certs = self.world.pki.ca_dir.display().to_string();
        let mut args = vec!["copy", "-q", "--dest-cert-dir", &certs];
        args.extend_from_slice(extra);
        args.extend([src.as_str(), dst.as_str()]);
        self.skopeo(&args)
    }

    /// Pushes, inspects and pulls `reference`, checking that the image came back unchanged.
    fn round_trip(&self, reference: &str) {
        let out = self.push(reference, &[]);
        self.expect_ok(&out, &format!("push {reference}"));

        let certs = self.world.pki.ca_dir.display().to_string();
        let src = format!("docker://{reference}");
        let out = self.skopeo(&["inspect", "--raw", "--cert-dir", &certs, &src]);
        self.expect_ok(&out, &format!("inspect {reference}"));
        assert_eq!(
            format!("sha256:{}", sha256_hex(&out.stdout)),
            self.world.image.manifest_digest,
            "{reference}: the registry holds another manifest"
        );

        let pulled = self.dir.join("pulled");
        let dst = format!("oci:{}:pulled", pulled.display());
        let out = self.skopeo(&["copy", "-q", "--src-cert-dir", &certs, &src, &dst]);
        self.expect_ok(&out, &format!("pull {reference}"));
        let index = std::fs::read_to_string(pulled.join("index.json")).unwrap();
        assert!(
            index.contains(&self.world.image.manifest_digest),
            "{reference}: pulled another image: {index}"
        );
        let config = self.world.image.config_digest.trim_start_matches("sha256:");
        assert!(pulled.join("blobs/sha256").join(config).exists());
    }

    fn expect_ok(&self, out: &Output, what: &str) {
        assert!(
            out.status.success(),
            "{what} failed: {}\nhelper log:\n{}",
            stderr(out),
            self.helper_log()
        );
    }

    fn helper_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("helper.log")).unwrap_or_default()
    }

    /// The API calls made since the scenario began, by service.
    fn calls(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for call in &self.world.env.aws.calls()[self.first_call..] {
            *counts.entry(call.service.clone()).or_default() += 1;
        }
        counts
    }

    /// How many times the clients ran the helper's `get` (each logs one hit or miss line).
    fn helper_gets(&self) -> usize {
        self.helper_log()
            .lines()
            .filter(|l| l.contains("cache hit for") || l.contains("cache miss for"))
            .count()
    }

    /// Asserts one API call per token scope: private us-west-2, its dual-stack twin, and ECR
    /// Public; and reports the figures.
    fn assert_one_call_per_scope(&self, name: &str) {
        let calls = self.calls();
        let expected: BTreeMap<String, usize> =
            [("ecr".to_string(), 2), ("ecr-public".to_string(), 1)].into();
        assert_eq!(calls, expected, "{name}: API calls");
        eprintln!(
            "{name}: {} helper gets, {} API calls {calls:?}",
            self.helper_gets(),
            calls.values().sum::<usize>()
        );
    }

    fn write_json(&self, path: &Path, value: serde_json::Value) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, value.to_string()).unwrap();
    }

    fn docker_config(&self, value: serde_json::Value) {
        self.write_json(&self.dir.join("docker/config.json"), value);
    }
}

fn cred_helpers(hosts: &[String]) -> serde_json::Value {
    let map: serde_json::Map<String, serde_json::Value> = hosts
        .iter()
        .map(|h| (h.clone(), serde_json::Value::from("ecr-login")))
        .collect();
    serde_json::json!({ "credHelpers": map })
}

fn tools_present() -> bool {
    let tools = [
        "skopeo",
        "docker-registry",
        "htpasswd",
        "openssl",
        "unshare",
        "tar",
        "gzip",
    ];
    // Check every tool (each reports itself), then the rest.
    let all = tools.iter().filter(|t| !require_tool(t)).count() == 0;
    all && require_root() && require_python_docker()
}

fn setup() -> World {
    let env = TestEnv::new();
    let password = format!(
        "e2e-pw-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    env.aws.set_password(&password);
    let dir = env.dir.path().to_path_buf();
    let mut names: Vec<&str> = ECR_HOSTS.to_vec();
    names.push(MIRROR);
    let pki = make_pki(&dir.join("pki"), &names);
    let htpasswd = dir.join("htpasswd");
    make_htpasswd(&htpasswd, "AWS", &password);
    let registry = Registry::start(
        &dir.join("registry"),
        "127.0.0.1:443".parse().unwrap(),
        &pki,
        Some(&htpasswd),
    );
    let mirror_port = free_port();
    let mirror = Registry::start(
        &dir.join("mirror"),
        format!("127.0.0.1:{mirror_port}").parse().unwrap(),
        &pki,
        None,
    );
    let hosts_file = dir.join("hosts");
    write_hosts(&hosts_file, &names);
    let image = write_oci_image(&dir, "hello from ecr-login's end-to-end test\n");
    World {
        env,
        pki,
        image,
        hosts_file,
        mirror: format!("{MIRROR}:{mirror_port}"),
        password,
        transcript: String::new(),
        _registry: registry,
        _mirror: mirror,
    }
}

#[test]
fn real_clients_push_and_pull_through_the_helper() {
    if !tools_present() {
        return;
    }
    let _port = lock_port_443();
    let mut world = setup();

    without_the_helper_the_push_is_refused(&mut world);
    docker_config_cred_helpers(&mut world);
    containers_auth_json_without_docker_config(&mut world);
    docker_sdk_creds_store(&mut world);

    // Nothing any client or the helper printed (at debug level) holds a secret.
    for secret in [world.password.as_str(), SECRET_KEY] {
        assert!(
            !world.transcript.contains(secret),
            "a secret appeared in a client's stderr or the helper's log"
        );
    }
}

/// The control: the registry refuses a push without the helper, so the scenarios' successes
/// prove that the helper's credentials were used. And with the helper wired but AWS refusing,
/// the push is refused too (the password exists only in the fake's answer).
fn without_the_helper_the_push_is_refused(world: &mut World) {
    let s = world.scenario("no-helper");
    s.docker_config(serde_json::json!({}));
    let out = s.push(&format!("{PRIVATE}/e2e/hello:refused"), &[]);
    let err = stderr(&out);
    assert!(!out.status.success(), "pushed without credentials");
    assert!(
        err.contains("authentication required") || err.contains("unauthorized"),
        "{err}"
    );

    s.docker_config(cred_helpers(&[PRIVATE.to_string()]));
    world.env.aws.script([Reply::AccessDenied]);
    let out = s.push(&format!("{PRIVATE}/e2e/hello:refused"), &[]);
    assert!(!out.status.success(), "pushed although AWS refused a token");
    assert!(
        s.helper_log().contains(fake_aws::IAM_MESSAGE),
        "the helper did not say why: {}",
        s.helper_log()
    );
    assert_eq!(s.calls().get("ecr"), Some(&1));
    let text = format!("{}{}", stderr(&out), s.helper_log());
    world.transcript.push_str(&text);
}

/// Docker `config.json` `credHelpers`, read by skopeo from `$DOCKER_CONFIG`, for the three
/// hosts by bare name and as `host:443`.
fn docker_config_cred_helpers(world: &mut World) {
    let s = world.scenario("docker-config-cred-helpers");
    let mut keys: Vec<String> = ECR_HOSTS.iter().map(|h| h.to_string()).collect();
    keys.extend(ECR_HOSTS.iter().map(|h| format!("{h}:443")));
    s.docker_config(cred_helpers(&keys));
    for host in ECR_HOSTS {
        s.round_trip(&format!("{host}/e2e/hello:docker-config"));
        s.round_trip(&format!("{host}:443/e2e/hello:docker-config-port"));
    }
    assert!(s.helper_log().contains(&format!("cache hit for {PRIVATE}")));
    s.assert_one_call_per_scope("credHelpers in $DOCKER_CONFIG/config.json");
    let text = s.helper_log();
    world.transcript.push_str(&text);
}

/// The containers `auth.json` (`$REGISTRY_AUTH_FILE`) that podman, buildah and skopeo read,
/// with no Docker config anywhere.
fn containers_auth_json_without_docker_config(world: &mut World) {
    let mut s = world.scenario("registry-auth-file");
    let auth_file = s.dir.join("auth.json");
    let keys: Vec<String> = ECR_HOSTS.iter().map(|h| h.to_string()).collect();
    s.write_json(&auth_file, cred_helpers(&keys));
    s.vars
        .insert("REGISTRY_AUTH_FILE".into(), path_str(&auth_file));
    s.vars
        .insert("DOCKER_CONFIG".into(), path_str(&s.dir.join("no-docker")));
    for host in ECR_HOSTS {
        s.round_trip(&format!("{host}/e2e/hello:auth-json"));
    }
    assert!(!s.dir.join("no-docker").exists());
    assert!(!s.dir.join("home/.docker").exists());
    s.assert_one_call_per_scope("credHelpers in $REGISTRY_AUTH_FILE");
    let text = s.helper_log();
    world.transcript.push_str(&text);
}

/// `"credsStore": "ecr-login"`, which skopeo and podman ignore but the Docker CLI and SDKs
/// honour: the Docker SDK for Python resolves credentials through the helper for every form of
/// server URL, uses them against the registry, and reaches a non-ECR registry anonymously.
/// Then skopeo pushes with the credentials the SDK resolved.
fn docker_sdk_creds_store(world: &mut World) {
    let s = world.scenario("creds-store");
    s.docker_config(serde_json::json!({ "credsStore": "ecr-login" }));
    let script = s.dir.join("resolve.py");
    std::fs::write(&script, PYTHON).unwrap();
    let mut urls = Vec::new();
    for host in ECR_HOSTS {
        urls.extend([
            host.to_string(),
            format!("{host}:443"),
            format!("https://{host}"),
            format!("https://{host}:443"),
            format!("{host}/e2e/hello"),
            format!("https://{host}/v2/"),
        ]);
    }
    let mut cmd = s.client("/usr/bin/python3");
    cmd.arg(&script)
        .arg(&world.pki.ca_file)
        .arg(&world.mirror)
        .args(&urls);
    let out = run_bounded(cmd, b"", Duration::from_secs(120));
    s.expect_ok(&out, "the Docker SDK script");
    let answers: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    for url in &urls {
        let a = &answers[url];
        assert_eq!(a["auth"]["Username"], "AWS", "{url}");
        assert!(
            a["auth"]["Password"] == world.password.as_str(),
            "{url}: the SDK got another password"
        );
        assert_eq!(
            a["with"], 200,
            "{url}: the registry refused the credentials"
        );
        assert_eq!(a["anonymous"], 401, "{url}: the registry wants no auth?");
    }
    let mirror = &answers[&world.mirror];
    assert!(
        mirror["auth"].is_null(),
        "non-ECR registry got credentials: {mirror}"
    );
    assert_eq!(mirror["anonymous"], 200, "non-ECR registry: {mirror}");
    assert!(
        !stderr(&out).contains("Credentials store error"),
        "{}",
        stderr(&out)
    );

    // A real push with what the SDK resolved, and an anonymous one to the non-ECR registry.
    let creds = format!("AWS:{}", world.password);
    let out = s.push(
        &format!("{PRIVATE}/e2e/hello:creds-store"),
        &["--dest-creds", &creds],
    );
    s.expect_ok(&out, "push with the SDK's credentials");
    let out = s.push(&format!("{}/e2e/hello:anonymous", world.mirror), &[]);
    s.expect_ok(&out, "anonymous push to the non-ECR registry");

    assert!(s.helper_gets() >= urls.len());
    s.assert_one_call_per_scope("credsStore via the Docker SDK for Python");
    let text = format!("{}{}", stderr(&out), s.helper_log());
    world.transcript.push_str(&text);
}

/// Resolves each server URL with `docker.auth` from `$DOCKER_CONFIG/config.json`, then asks the
/// registry's `/v2/` with those credentials and without. Prints one JSON object.
const PYTHON: &str = r#"
import base64, json, ssl, sys, urllib.error, urllib.request
import docker.auth

cafile, mirror, urls = sys.argv[1], sys.argv[2], sys.argv[3:]
config = docker.auth.load_config()
context = ssl.create_default_context(cafile=cafile)

def status(host, auth):
    request = urllib.request.Request("https://%s/v2/" % host)
    if auth:
        pair = "%s:%s" % (auth["Username"], auth["Password"])
        request.add_header("Authorization", "Basic " + base64.b64encode(pair.encode()).decode())
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code

answers = {}
for url in urls + [mirror]:
    auth = docker.auth.resolve_authconfig(config, url)
    host = url.split("://")[-1].split("/")[0]
    answers[url] = {"auth": auth, "with": status(host, auth), "anonymous": status(host, None)}
print(json.dumps(answers))
"#;
