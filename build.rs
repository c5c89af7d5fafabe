//! Build script: records the git commit the binary is built from, for `--version`.
//!
//! Sources, first found wins:
//! 1. `ECR_LOGIN_GIT_COMMIT`: packagers building from a tarball (RPM, Homebrew, container builds
//!    without `.git`) pass the commit this way.
//! 2. `git`, but only when this package's directory is the top of a git work tree: a tarball
//!    unpacked inside some other repository (an rpmbuild tree, a Homebrew tap) must not report
//!    that repository's commit.
//! 3. `packaging/commit`, which `git archive` (and so a forge's release tarball) fills in through
//!    the `export-subst` attribute; in a checkout it holds the unexpanded placeholder.
//! 4. `.cargo_vcs_info.json`, which `cargo package` writes into the crates.io tarball.
//! 5. `unknown`.
//!
//! The result reaches the crate as `ECR_LOGIN_COMMIT`. Only the git files that move when HEAD
//! moves are watched, so a build with nothing changed stays fresh.
//!
//! It also packs the binary's relative relocations (`-z pack-relative-relocs`, DT_RELR) when the
//! binary is static-pie and the glibc it is linked with can apply them: see
//! [`pack_relative_relocations`].

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const OVERRIDE: &str = "ECR_LOGIN_GIT_COMMIT";

fn main() {
    record_commit();
    pack_relative_relocations();
    populate_writable_segments_at_entry();
}

fn record_commit() {
    println!("cargo::rerun-if-env-changed={OVERRIDE}");
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let commit = match std::env::var(OVERRIDE) {
        Ok(given) if !given.trim().is_empty() => checked(given.trim()),
        _ => from_git(&dir)
            .or_else(|| from_archive(&dir))
            .or_else(|| from_vcs_info(&dir))
            .unwrap_or_else(|| "unknown".to_string()),
    };
    println!("cargo::rustc-env=ECR_LOGIN_COMMIT={commit}");
}

/// The override lands in `--version` output verbatim: anything but a plain revision name is a
/// mistake in the packaging, so the build stops and says so.
fn checked(given: &str) -> String {
    let plain = given.len() <= 64
        && given
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b));
    if !plain {
        eprintln!(
            "error: {OVERRIDE}={given:?} is not a commit id (expected up to 64 letters, digits, '.', '_', '-', '+')"
        );
        std::process::exit(1);
    }
    given.to_string()
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

fn from_git(dir: &Path) -> Option<String> {
    let top = git(dir, &["rev-parse", "--show-toplevel"])?;
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if !same(Path::new(&top), dir) {
        return None;
    }
    let commit = git(
        dir,
        &["rev-parse", "--verify", "--short=12", "HEAD^{commit}"],
    )?;
    watch_head(dir);
    Some(commit)
}

/// Rebuild when HEAD moves: HEAD itself (branch switch, detached checkout), the branch's loose
/// ref, `packed-refs`, and HEAD's reflog, which every commit, reset or checkout appends to (it
/// catches a loose ref being created for a branch that was packed). Only existing files are
/// named: cargo treats a missing one as changed and would rebuild on every run.
fn watch_head(dir: &Path) {
    let mut names = vec![
        "HEAD".to_string(),
        "packed-refs".to_string(),
        "logs/HEAD".to_string(),
    ];
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        names.push(branch);
    }
    for name in names {
        if let Some(path) = git(dir, &["rev-parse", "--git-path", &name]) {
            let path = dir.join(path);
            if path.is_file() {
                println!("cargo::rerun-if-changed={}", path.display());
            }
        }
    }
}

fn from_archive(dir: &Path) -> Option<String> {
    let path = dir.join("packaging/commit");
    let text = std::fs::read_to_string(&path).ok()?;
    println!("cargo::rerun-if-changed={}", path.display());
    short_sha(text.trim())
}

fn short_sha(sha: &str) -> Option<String> {
    (sha.len() >= 12 && sha.bytes().all(|b| b.is_ascii_hexdigit())).then(|| sha[..12].to_string())
}

/// `{"git": {"sha1": "<40 hex>"}, ...}`: read with a plain search, the file is cargo's own and
/// a JSON parser in the build dependencies would cost a second compile of it.
fn from_vcs_info(dir: &Path) -> Option<String> {
    let path = dir.join(".cargo_vcs_info.json");
    let text = std::fs::read_to_string(&path).ok()?;
    println!("cargo::rerun-if-changed={}", path.display());
    let rest = &text[text.find("\"sha1\"")? + "\"sha1\"".len()..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    short_sha(&rest[..rest.find('"')?])
}

/// The first glibc whose static start-up code (`_dl_relocate_static_pie`) applies DT_RELR.
const GLIBC_WITH_STATIC_RELR: (u32, u32) = (2, 36);

/// A static-pie binary relocates itself before anything else runs: about 19,000 pointers in the
/// SDK's and TLS stack's tables (vtables, `&'static str`s), two thirds of a cache hit's
/// instructions. Packed (DT_RELR), they are a bitmap of a few kilobytes instead of 460 KB of
/// RELA entries to read and walk. The flag is safe only with the glibc that does the relocating:
/// in a static binary that is the libc.a linked in, and one older than 2.36 ignores DT_RELR, so
/// the binary would crash at start. A linker that packs beside an older glibc is a real build
/// system: rustc links with its own LLD by default on x86_64 Linux since 1.90, and binutils packs
/// from 2.38, while Amazon Linux 2023 and RHEL 9 have glibc 2.34. So the flag is added only
/// for a static glibc target whose C library, read from the linker driver's own headers (the
/// same sysroot libc.a comes from), is 2.36 or later. Dynamic builds are left as they are: there
/// the loader applies DT_RELR, which would tie the binary to a glibc 2.36 system at run time.
/// A linker that does not know the flag (binutils before 2.38) ignores it with a warning.
fn pack_relative_relocations() {
    println!("cargo::rerun-if-env-changed=RUSTC_LINKER");
    if !static_glibc_target() {
        return;
    }
    let driver = std::env::var_os("RUSTC_LINKER").unwrap_or_else(|| "cc".into());
    match glibc_version(Path::new(&driver)) {
        Some(version) if version >= GLIBC_WITH_STATIC_RELR => {
            println!("cargo::rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
        }
        Some((major, minor)) => println!(
            "cargo::warning=glibc {major}.{minor} cannot apply packed relocations in a static binary (2.36 can): \
             linking without -z pack-relative-relocs, so the binary starts somewhat slower"
        ),
        None => println!(
            "cargo::warning=could not read the glibc version from {}'s headers: \
             linking without -z pack-relative-relocs, so the binary starts somewhat slower",
            Path::new(&driver).display()
        ),
    }
}

/// Linux, glibc, `+crt-static` (.cargo/config.toml sets it on x86_64, where it means static-pie).
fn static_glibc_target() -> bool {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    var("CARGO_CFG_TARGET_OS") == "linux"
        && var("CARGO_CFG_TARGET_ENV") == "gnu"
        && var("CARGO_CFG_TARGET_FEATURE")
            .split(',')
            .any(|feature| feature == "crt-static")
}

/// `__GLIBC__` and `__GLIBC_MINOR__` as the linker driver's preprocessor sees them; `None` when
/// the driver cannot preprocess C (not a C compiler) or the headers are not glibc's.
fn glibc_version(driver: &Path) -> Option<(u32, u32)> {
    let mut child = Command::new(driver)
        .args(["-E", "-dM", "-x", "c", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    child
        .stdin
        .take()?
        .write_all(b"#include <features.h>\n")
        .ok()?;
    let out = child.wait_with_output().ok()?;
    if !out.status.success() {
        return None;
    }
    let macros = String::from_utf8(out.stdout).ok()?;
    let defined = |name: &str| {
        macros.lines().find_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("#define") && words.next() == Some(name))
                .then(|| words.next()?.parse::<u32>().ok())
                .flatten()
        })
    };
    Some((defined("__GLIBC__")?, defined("__GLIBC_MINOR__")?))
}

/// The static-pie binary starts at `ecr_login_start` (src/entry.rs), which asks the kernel for
/// the writable segments' private copies (RELRO and `.data`), one call each, before glibc
/// relocates them. The symbol exists under the same conditions (x86_64, Linux, glibc,
/// `+crt-static`).
fn populate_writable_segments_at_entry() {
    if static_glibc_target() && std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86_64") {
        println!("cargo::rustc-link-arg-bins=-Wl,-e,ecr_login_start");
    }
}
