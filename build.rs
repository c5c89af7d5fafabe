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

use std::path::{Path, PathBuf};
use std::process::Command;

const OVERRIDE: &str = "ECR_LOGIN_GIT_COMMIT";

fn main() {
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
