//! `--version` names the release and the commit the binary was built from (build.rs).

#[allow(unused_imports)]
use crate::support;

use std::path::Path;
use std::process::Command;
use support::TestEnv;

/// The commit build.rs should have recorded, when this test can know it: the packager's
/// override, or HEAD when this package is the top of a git work tree.
fn expected_commit() -> Option<String> {
    if let Some(given) = option_env!("ECR_LOGIN_GIT_COMMIT").filter(|c| !c.trim().is_empty()) {
        return Some(given.trim().to_string());
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let top = git(&["rev-parse", "--show-toplevel"])?;
    if Path::new(&top).canonicalize().ok()? != dir.canonicalize().ok()? {
        return None;
    }
    git(&["rev-parse", "--short=12", "HEAD"])
}

#[test]
fn version_names_the_release_and_the_commit() {
    let env = TestEnv::new();
    for arg in ["version", "--version", "-V"] {
        let out = env.run(&[arg], b"");
        assert!(out.status.success(), "{arg} failed: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        let want = format!(" {} (commit ", env!("CARGO_PKG_VERSION"));
        assert!(
            text.contains(&want),
            "{arg} printed {text:?}, wanted {want:?}"
        );
        match expected_commit() {
            Some(commit) => assert!(
                text.contains(&format!("(commit {commit})")),
                "{arg} printed {text:?}, but the source is at commit {commit}"
            ),
            None => assert!(
                !text.contains("(commit )"),
                "{arg} printed an empty commit: {text:?}"
            ),
        }
    }
}
