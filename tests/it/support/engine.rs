//! A real container engine for the end-to-end tests: a private mount and network namespace in
//! which ECR host names resolve to registries of the test's own, a `dockerd` started with
//! directories of the test's own, and a base image made from Debian's `busybox-static`.
//!
//! dockerd treats every `127.0.0.0/8` registry as insecure (no TLS, plain HTTP), so the
//! registries listen on addresses added to the namespace's `lo` instead, which exist nowhere
//! else. Everything started here is stopped by pid when its guard is dropped, also on panic.

#![allow(dead_code)]

use super::e2e::check;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A mount and network namespace, held open by a `sleep` that is killed on drop. Inside it,
/// `/etc/hosts` is the test's hosts file, `/etc/docker` the test's directory (for
/// `certs.d/<host>/ca.crt`, which dockerd, BuildKit, podman and buildah read), and `lo` carries
/// the extra addresses.
pub struct Namespace {
    holder: Child,
    pub etc_docker: PathBuf,
}

impl Namespace {
    /// `hosts` maps names to addresses; each address is added to `lo`.
    pub fn new(dir: &Path, hosts: &[(&str, &str)]) -> Namespace {
        std::fs::create_dir_all(dir).unwrap();
        let mut text = String::from("127.0.0.1 localhost\n::1 localhost\n");
        let mut addrs: Vec<&str> = Vec::new();
        for (name, addr) in hosts {
            text.push_str(&format!("{addr} {name}\n"));
            if !addrs.contains(addr) {
                addrs.push(addr);
            }
        }
        let hosts_file = dir.join("hosts");
        std::fs::write(&hosts_file, text).unwrap();
        let etc_docker = dir.join("etc-docker");
        std::fs::create_dir_all(etc_docker.join("certs.d")).unwrap();
        let add: String = addrs
            .iter()
            .map(|a| format!("ip addr add {a}/32 dev lo && "))
            .collect();
        // `/run/containers` holds root's podman login (`0/auth.json`): hidden when present.
        let script = format!(
            r#"set -e; ip link set lo up && {add}mount --bind "$0" /etc/hosts && mount --bind "$1" /etc/docker && if [ -d /run/containers ]; then mount -t tmpfs tmpfs /run/containers; fi && echo ready && exec sleep infinity"#
        );
        let mut holder = Command::new("unshare")
            .args(["--mount", "--net", "--propagation", "private", "sh", "-c"])
            .arg(script)
            .arg(&hosts_file)
            .arg(&etc_docker)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("unshare");
        // The shell prints `ready` or exits (EOF): no waiting on time.
        let mut line = String::new();
        let stdout = holder.stdout.take().unwrap();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        if line.trim() != "ready" {
            let _ = holder.kill();
            let status = holder.wait();
            panic!("could not set up the namespace: {status:?}");
        }
        Namespace { holder, etc_docker }
    }

    pub fn pid(&self) -> u32 {
        self.holder.id()
    }

    /// `program` inside the namespace (`nsenter` execs it: its pid is the program's).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.args(["-t", &self.pid().to_string(), "-m", "-n", "--"])
            .arg(program);
        cmd
    }

    /// Runs `f` on a thread that has joined the namespace's network (only that thread: network
    /// namespaces are per thread). Sockets made there stay in the namespace.
    pub fn in_net<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/proc/{}/ns/net", self.pid());
        std::thread::spawn(move || {
            let ns = File::open(&path).expect("open the network namespace");
            // SAFETY: a valid fd of a namespace file; only this thread changes namespace.
            let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .expect("a thread in the namespace panicked")
    }

    pub fn bind(&self, addr: &str) -> TcpListener {
        let addr = addr.to_string();
        self.in_net(move || TcpListener::bind(&addr).expect("bind in the namespace"))
    }

    pub fn can_connect(&self, addr: SocketAddr) -> bool {
        self.in_net(move || TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok())
    }

    /// A fake AWS endpoint on the namespace's loopback, where the helper (run by clients
    /// inside the namespace) reaches it.
    pub fn fake_aws(&self) -> super::FakeAws {
        let listener = self.bind("127.0.0.1:0");
        let path = format!("/proc/{}/ns/net", self.pid());
        super::FakeAws::start_on(
            listener,
            Box::new(move |addr| {
                let path = path.clone();
                let _ = std::thread::spawn(move || {
                    if let Ok(ns) = File::open(&path) {
                        // SAFETY: as in `in_net`.
                        if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } == 0 {
                            let _ = TcpStream::connect_timeout(&addr, Duration::from_millis(200));
                        }
                    }
                })
                .join();
            }),
        )
    }

    /// Makes dockerd, BuildKit, podman and buildah trust `ca` for `host`.
    pub fn trust(&self, host: &str, ca: &Path) {
        let dir = self.etc_docker.join("certs.d").join(host);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(ca, dir.join("ca.crt")).unwrap();
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// `dockerd` in a namespace, with its own data, exec root and socket; stopped on drop.
pub struct Dockerd {
    child: Child,
    pub socket: PathBuf,
    pub log: PathBuf,
    exec_root: PathBuf,
}

impl Dockerd {
    pub fn start(ns: &Namespace, dir: &Path) -> Dockerd {
        std::fs::create_dir_all(dir).unwrap();
        let data = dir.join("data");
        // The exec root holds containerd's socket path, which must stay short.
        let exec_root = dir.join("x");
        let socket = dir.join("docker.sock");
        let log = dir.join("dockerd.log");
        let log_file = File::create(&log).unwrap();
        let child = ns
            .command("dockerd")
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
                "--storage-driver=vfs",
            ])
            .arg(format!("--data-root={}", data.display()))
            .arg(format!("--exec-root={}", exec_root.display()))
            .arg(format!("--pidfile={}", dir.join("docker.pid").display()))
            .arg(format!("--host=unix://{}", socket.display()))
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .expect("start dockerd");
        let mut dockerd = Dockerd {
            child,
            socket,
            log,
            exec_root,
        };
        dockerd.wait_ready();
        dockerd
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "dockerd exited with {status}: {}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            let up = Command::new("/usr/bin/docker")
                .args([
                    "-H",
                    &self.host(),
                    "version",
                    "--format",
                    "{{.Server.Version}}",
                ])
                .env_clear()
                .env("PATH", "/usr/bin:/bin")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if up {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "dockerd did not answer within 60 s: {}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: signalling our own child, which has not been reaped yet.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // dockerd stops the containerd it started; should it not have, stop that one too.
        let containerd = self.exec_root.join("containerd/containerd.pid");
        if let Some(pid) = std::fs::read_to_string(containerd)
            .ok()
            .and_then(|p| p.trim().parse::<libc::pid_t>().ok())
            .filter(|p| *p > 1)
        {
            // SAFETY: a pid dockerd recorded for its containerd; kill(2) has no other effect.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// A root file system tar of Debian's `busybox-static` (the binary and its applet links),
/// for `docker import` / `podman import`: no image can be pulled here. `None` (skipped) when
/// the package cannot be had; with `CI=true` that fails the test.
pub fn busybox_tar(dir: &Path) -> Option<PathBuf> {
    // busybox-static conflicts with the installed `busybox`: fetched, never installed.
    let Some(extracted) = extract_deb(dir, "busybox-static", "ECR_LOGIN_BUSYBOX_STATIC_DEB") else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("apt-get download busybox-static failed");
        }
        eprintln!("SKIPPED: apt-get download busybox-static failed");
        return None;
    };
    let rootfs = dir.join("rootfs");
    let bin = rootfs.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for sub in ["tmp", "etc", "root"] {
        std::fs::create_dir_all(rootfs.join(sub)).unwrap();
    }
    std::fs::copy(extracted.join("bin/busybox"), bin.join("busybox")).unwrap();
    let list = check(Command::new(bin.join("busybox")).arg("--list"));
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" && !applet.is_empty() {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
        }
    }
    let tar = dir.join("busybox.tar");
    check(
        Command::new("tar")
            .args(["--owner=0", "--group=0", "--numeric-owner", "-cf"])
            .arg(&tar)
            .arg("-C")
            .arg(&rootfs)
            .arg("."),
    );
    Some(tar)
}

/// A process the test started, killed by its pid when dropped.
pub struct Guarded(pub Child);

impl Drop for Guarded {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The files of a Debian package, extracted into `dir` (never installed): `ECR_LOGIN_<VAR>_DEB`
/// names the .deb, else `apt-get download` fetches it. `None` when it cannot be had.
pub fn extract_deb(dir: &Path, package: &str, var: &str) -> Option<PathBuf> {
    let download = dir.join("download");
    std::fs::create_dir_all(&download).unwrap();
    let deb = match std::env::var_os(var) {
        Some(deb) if !deb.is_empty() => PathBuf::from(deb),
        _ => {
            let got = Command::new("apt-get")
                .args(["download", "-q", "-o", "APT::Sandbox::User=root", package])
                .current_dir(&download)
                .output()
                .is_ok_and(|o| o.status.success());
            let found = std::fs::read_dir(&download).ok().and_then(|d| {
                d.flatten()
                    .map(|e| e.path())
                    .find(|p| p.extension().is_some_and(|e| e == "deb"))
            });
            match found {
                Some(deb) if got => deb,
                _ => return None,
            }
        }
    };
    let extracted = dir.join("extracted");
    check(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&extracted));
    Some(extracted)
}
