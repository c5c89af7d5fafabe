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

/// Every command the binary has, as `help`, `--help` and the man page must list them.
const COMMANDS: &[&str] = &[
    "get",
    "list",
    "store",
    "erase",
    "version",
    "get-login-password",
    "configure",
    "doctor",
    "kubelet",
    "man",
    "completions",
];

#[test]
fn help_lists_every_command_and_exits_0() {
    let env = TestEnv::new();
    for args in [&["help"][..], &["--help"], &["-h"]] {
        let out = env.run(args, b"");
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {out:?}");
        for command in COMMANDS {
            assert!(
                text.lines()
                    .any(|l| l.trim_start().starts_with(&format!("{command} "))),
                "{args:?} does not list {command}: {text}"
            );
        }
    }
    for command in COMMANDS.iter().filter(|c| **c != "kubelet") {
        let out = env.run(&["help", command], b"");
        assert_eq!(out.status.code(), Some(0), "help {command}: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(command), "help {command}: {text}");
    }
    let out = env.run(&["help", "nope"], b"");
    assert_eq!(out.status.code(), Some(1), "help nope: {out:?}");
}

#[test]
fn the_man_page_documents_every_command() {
    let env = TestEnv::new();
    let out = env.run(&["man"], b"");
    assert!(out.status.success(), "{out:?}");
    let page = String::from_utf8_lossy(&out.stdout);
    for command in COMMANDS {
        assert!(
            page.lines().any(|l| l == format!(".SS {command}")),
            "the man page has no section for {command}"
        );
    }
}

#[test]
fn completions_for_bash_zsh_and_fish() {
    let env = TestEnv::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = env.run(&["completions", shell], b"");
        assert!(out.status.success(), "{shell}: {out:?}");
        let script = String::from_utf8_lossy(&out.stdout);
        for command in ["get-login-password", "configure", "doctor"] {
            assert!(script.contains(command), "{shell}: no {command}");
        }
        assert!(script.contains("docker-credential-ecr-login"), "{shell}");
    }
    let out = env.run(&["completions", "tcsh"], b"");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bash"));
}

/// Run as the kubelet's plugin: a help of its own, and the same version line as the main name.
#[test]
fn the_kubelet_plugin_has_help_and_names_its_commit() {
    let env = TestEnv::new();
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("ecr-credential-provider");
    std::os::unix::fs::symlink(support::bin(), &link).unwrap();
    let run = |arg: &str| {
        let mut cmd = Command::new(&link);
        cmd.arg(arg).env_clear().envs(&env.vars);
        support::run_bounded(cmd, b"", std::time::Duration::from_secs(60))
    };
    let out = run("--help");
    assert!(out.status.success(), "{out:?}");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.lines().count() >= 8, "a one-line help: {help}");
    for needle in [
        "CredentialProviderConfig",
        "AWS_REGION",
        "ecr-role-arn",
        "--version",
    ] {
        assert!(
            help.contains(needle),
            "the help does not mention {needle}: {help}"
        );
    }
    let main = env.run(&["--version"], b"");
    let main = String::from_utf8_lossy(&main.stdout);
    let commit = main
        .split_once("(commit ")
        .map(|(_, c)| c.trim())
        .expect("the main binary names its commit");
    let out = run("--version");
    assert!(out.status.success(), "{out:?}");
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(
        version.contains(&format!("(commit {commit}")),
        "{version:?} lacks the commit of {main:?}"
    );
}

/// The one-line description, as every package shows it: the .deb's synopsis (Cargo.toml's
/// `description`), the RPM's `Summary` and Homebrew's `desc`. Debian and Homebrew want at most
/// 80 characters (a longer .deb synopsis is cut in two).
#[test]
fn one_package_description_of_at_most_80_characters() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
    let cargo = read("Cargo.toml");
    let manifest: toml::Table = cargo.parse().unwrap();
    let deb = manifest["package"]["description"]
        .as_str()
        .unwrap()
        .to_string();
    let rpm = read("packaging/rpm/ecr-login.spec")
        .lines()
        .find_map(|l| l.strip_prefix("Summary:"))
        .map(|s| s.trim().to_string())
        .expect("the spec has a Summary");
    let brew = read("packaging/homebrew/ecr-login.rb")
        .lines()
        .find_map(|l| l.trim().strip_prefix("desc "))
        .map(|s| s.trim().trim_matches('"').to_string())
        .expect("the formula has a desc");
    assert!(
        deb.chars().count() <= 80,
        "{} characters: {deb}",
        deb.chars().count()
    );
    assert!(!deb.ends_with('.'), "a synopsis ends without a full stop");
    assert_eq!(
        rpm, deb,
        "the RPM Summary differs from Cargo.toml's description"
    );
    assert_eq!(
        brew, deb,
        "Homebrew's desc differs from Cargo.toml's description"
    );
}
