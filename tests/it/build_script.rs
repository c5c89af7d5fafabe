//! build.rs's commit sources, run as a program against made-up source trees: the override, a
//! `git archive` tarball (packaging/commit filled in), a crates.io tarball
//! (.cargo_vcs_info.json), a tree with none of these, and one unpacked inside another repository.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// build.rs compiled on its own: it needs nothing but std.
fn build_script(dir: &Path) -> PathBuf {
    let exe = dir.join("build-script");
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc)
        .args(["--edition", "2024", "-o"])
        .arg(&exe)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("build.rs"))
        .output()
        .expect("run rustc");
    assert!(out.status.success(), "rustc build.rs: {out:?}");
    exe
}

fn run(exe: &Path, manifest_dir: &Path, commit_override: Option<&str>) -> Output {
    let mut cmd = Command::new(exe);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("CARGO_MANIFEST_DIR", manifest_dir);
    if let Some(commit) = commit_override {
        cmd.env("ECR_LOGIN_GIT_COMMIT", commit);
    }
    cmd.output().expect("run build script")
}

fn commit_of(out: &Output) -> String {
    assert!(out.status.success(), "build script failed: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("cargo::rustc-env=ECR_LOGIN_COMMIT="))
        .unwrap_or_else(|| panic!("no ECR_LOGIN_COMMIT in {text:?}"))
        .to_string()
}

fn git(dir: &Path, args: &[&str]) -> bool {
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn commit_sources_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let exe = build_script(tmp.path());
    let tree = tmp.path().join("tree");
    std::fs::create_dir_all(tree.join("packaging")).unwrap();

    // A checkout's packaging/commit holds the unexpanded placeholder: nothing to go on.
    std::fs::write(tree.join("packaging/commit"), "$Format:%H$\n").unwrap();
    assert_eq!(commit_of(&run(&exe, &tree, None)), "unknown");

    // crates.io tarball.
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let vcs_info =
        format!("{{\n  \"git\": {{\n    \"sha1\": \"{sha}\"\n  }},\n  \"path_in_vcs\": \"\"\n}}");
    std::fs::write(tree.join(".cargo_vcs_info.json"), vcs_info).unwrap();
    assert_eq!(commit_of(&run(&exe, &tree, None)), "0123456789ab");

    // git archive tarball: packaging/commit wins over .cargo_vcs_info.json.
    let archived = "fedcba9876543210fedcba9876543210fedcba98";
    std::fs::write(tree.join("packaging/commit"), format!("{archived}\n")).unwrap();
    assert_eq!(commit_of(&run(&exe, &tree, None)), "fedcba987654");

    // The packager's override wins over everything; garbage in it stops the build.
    assert_eq!(
        commit_of(&run(&exe, &tree, Some("v1.2.3-rc1"))),
        "v1.2.3-rc1"
    );
    let bad = run(&exe, &tree, Some("abc; rm -rf /"));
    assert!(!bad.status.success(), "accepted a bad override: {bad:?}");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("ECR_LOGIN_GIT_COMMIT"));
}

#[test]
fn git_checkouts_report_head_and_outer_repositories_do_not_count() {
    let tmp = tempfile::tempdir().unwrap();
    let exe = build_script(tmp.path());
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    if !git(&repo, &["init", "-q"]) || !git(&repo, &["commit", "-q", "--allow-empty", "-m", "x"]) {
        eprintln!("SKIP: git is not usable here");
        return;
    }
    let head = Command::new("git")
        .arg("-C")
        .arg(&repo)
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&head.stdout).trim().to_string();

    let out = run(&exe, &repo, None);
    assert_eq!(commit_of(&out), head);
    // HEAD's files are watched, so a new commit rebuilds; nothing else is.
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("cargo::rerun-if-changed=") && text.contains("HEAD"),
        "{text}"
    );

    // A source tarball unpacked inside that repository is not the repository's commit.
    let inner = repo.join("unpacked");
    std::fs::create_dir_all(&inner).unwrap();
    assert_eq!(commit_of(&run(&exe, &inner, None)), "unknown");
}
