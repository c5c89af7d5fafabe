//! Real clients against a real registry: a throw-away PKI, htpasswd, Debian's `docker-registry`
//! (the CNCF distribution registry), a tiny OCI image layout, and a private mount namespace in
//! which the ECR host names resolve to 127.0.0.1.
//!
//! Nothing here leaves loopback: the registries listen on 127.0.0.1, and the host names only
//! exist inside `unshare -m`, where a temp hosts file is bind-mounted over `/etc/hosts`.

#![allow(dead_code)]

use sha2::{Digest, Sha256};
use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Serializes everything that binds 127.0.0.1:443, across test binaries and worktrees.
pub struct PortLock(File);

pub fn lock_port_443() -> PortLock {
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(std::env::temp_dir().join("ecr-login-e2e-443.lock"))
        .expect("open the port-443 lock file");
    file.lock().expect("lock the port-443 lock file");
    PortLock(file)
}

/// True when we may use `unshare -m` and bind port 443; with `CI=true` not being root fails.
pub fn require_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("the end-to-end tests need root (unshare -m, port 443); CI runs as root");
    }
    eprintln!("SKIPPED: not root (unshare -m and port 443 need it)");
    false
}

/// Whether Debian's `python3` can import the Docker SDK; with `CI=true` a missing one fails.
pub fn require_python_docker() -> bool {
    let ok = Command::new("/usr/bin/python3")
        .args(["-c", "import docker.auth"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("python3-docker is not installed; .ci/run must install it");
        }
        eprintln!("SKIPPED: python3-docker is not installed");
    }
    ok
}

/// Runs `cmd`, panicking with its output unless it succeeds.
pub fn check(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A CA and a server certificate for `names`, made with `openssl`.
pub struct Pki {
    /// Holds `ca.crt` only: what skopeo's `--cert-dir` wants.
    pub ca_dir: PathBuf,
    pub ca_file: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub fn make_pki(dir: &Path, names: &[&str]) -> Pki {
    std::fs::create_dir_all(dir.join("ca")).unwrap();
    let p = |n: &str| dir.join(n);
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    check(
        Command::new("openssl")
            .args(["req", "-x509"])
            .args(ec)
            .args(["-days", "2", "-subj", "/CN=ecr-login test CA", "-keyout"])
            .arg(p("ca.key"))
            .arg("-out")
            .arg(p("ca/ca.crt")),
    );
    check(
        Command::new("openssl")
            .arg("req")
            .args(ec)
            .args(["-subj", "/CN=registry", "-keyout"])
            .arg(p("server.key"))
            .arg("-out")
            .arg(p("server.csr")),
    );
    let sans: Vec<String> = names.iter().map(|n| format!("DNS:{n}")).collect();
    std::fs::write(
        p("ext.cnf"),
        format!(
            "subjectAltName={},IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
            sans.join(",")
        ),
    )
    .unwrap();
    check(
        Command::new("openssl")
            .args(["x509", "-req", "-days", "2", "-in"])
            .arg(p("server.csr"))
            .arg("-CA")
            .arg(p("ca/ca.crt"))
            .arg("-CAkey")
            .arg(p("ca.key"))
            .args(["-CAcreateserial", "-extfile"])
            .arg(p("ext.cnf"))
            .arg("-out")
            .arg(p("server.crt")),
    );
    Pki {
        ca_dir: p("ca"),
        ca_file: p("ca/ca.crt"),
        cert: p("server.crt"),
        key: p("server.key"),
    }
}

/// An htpasswd file (bcrypt, as `htpasswd -B`) with one user.
pub fn make_htpasswd(path: &Path, user: &str, password: &str) {
    // -i reads the password from stdin, so it never appears in a process listing.
    let mut child = Command::new("htpasswd")
        .args(["-B", "-i", "-c"])
        .arg(path)
        .arg(user)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run htpasswd");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(password.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "htpasswd: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A running `docker-registry`, killed when dropped.
pub struct Registry {
    child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
}

impl Registry {
    /// Starts a registry on `addr` with TLS from `pki`, and Basic auth when `htpasswd` is given.
    pub fn start(dir: &Path, addr: SocketAddr, pki: &Pki, htpasswd: Option<&Path>) -> Registry {
        Registry::start_in(None, dir, addr, pki, htpasswd)
    }

    /// [`Registry::start`] inside `ns` (its network and mount namespace) when given.
    pub fn start_in(
        ns: Option<&super::engine::Namespace>,
        dir: &Path,
        addr: SocketAddr,
        pki: &Pki,
        htpasswd: Option<&Path>,
    ) -> Registry {
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let auth = match htpasswd {
            Some(path) => format!(
                "auth:\n  htpasswd:\n    realm: ecr-login-e2e\n    path: {}\n",
                path.display()
            ),
            None => String::new(),
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {data}\n  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: {addr}\n  secret: ecr-login-e2e-not-a-secret\n  tls:\n    certificate: {cert}\n    key: {key}\n{auth}",
            data = dir.join("data").display(),
            cert = pki.cert.display(),
            key = pki.key.display(),
        );
        let config_path = dir.join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = dir.join("registry.log");
        let log_file = File::create(&log).unwrap();
        let mut cmd = match ns {
            Some(ns) => ns.command("docker-registry"),
            None => Command::new("docker-registry"),
        };
        let child = cmd
            .arg("serve")
            .arg(&config_path)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .expect("start docker-registry");
        let mut registry = Registry { child, addr, log };
        registry.wait_ready(ns);
        registry
    }

    fn wait_ready(&mut self, ns: Option<&super::engine::Namespace>) {
        let listening = |addr: &SocketAddr| match ns {
            Some(ns) => ns.can_connect(*addr),
            None => TcpStream::connect_timeout(addr, Duration::from_millis(200)).is_ok(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "docker-registry on {} exited with {status}: {}",
                    self.addr,
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            if listening(&self.addr) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry did not listen on {} within 30 s: {}",
                self.addr,
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A hosts file in which every name in `names` is 127.0.0.1.
pub fn write_hosts(path: &Path, names: &[&str]) {
    let mut text = String::from("127.0.0.1 localhost\n::1 localhost\n");
    for name in names {
        text.push_str(&format!("127.0.0.1 {name}\n"));
    }
    std::fs::write(path, text).unwrap();
}

/// `program args...` inside a private mount namespace where `hosts` is `/etc/hosts`.
pub fn in_namespace(hosts: &Path, program: &str) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args([
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        r#"mount --bind "$0" /etc/hosts && exec "$@""#,
    ])
    .arg(hosts)
    .arg(program);
    cmd
}

/// A tiny OCI image layout (one gzip layer with one file) at `dir`, tagged `latest`.
pub struct OciImage {
    pub layout: PathBuf,
    pub manifest_digest: String,
    pub config_digest: String,
}

pub fn write_oci_image(dir: &Path, content: &str) -> OciImage {
    let work = dir.join("image-src");
    let layout = dir.join("layout");
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::write(work.join("hello.txt"), content).unwrap();
    let layer_tar = dir.join("layer.tar");
    check(
        Command::new("tar")
            .args(["--owner=0", "--group=0", "--numeric-owner", "-cf"])
            .arg(&layer_tar)
            .arg("-C")
            .arg(&work)
            .arg("hello.txt"),
    );
    let tar = std::fs::read(&layer_tar).unwrap();
    let diff_id = sha256_hex(&tar);
    check(Command::new("gzip").args(["-n", "-f"]).arg(&layer_tar));
    let layer = std::fs::read(dir.join("layer.tar.gz")).unwrap();
    let put = |bytes: &[u8]| {
        let digest = sha256_hex(bytes);
        std::fs::write(blobs.join(&digest), bytes).unwrap();
        (format!("sha256:{digest}"), bytes.len())
    };
    let (layer_digest, layer_size) = put(&layer);
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/hello.txt"]},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{diff_id}")]},
    })
    .to_string();
    let (config_digest, config_size) = put(config.as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config_size,
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": layer_digest,
            "size": layer_size,
        }],
    })
    .to_string();
    let (manifest_digest, manifest_size) = put(manifest.as_bytes());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest_size,
            "annotations": {"org.opencontainers.image.ref.name": "latest"},
        }],
    });
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    OciImage {
        layout,
        manifest_digest,
        config_digest,
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
