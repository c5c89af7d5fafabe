//! `configure`: editing Docker's, podman's and Helm's JSON configs safely.

use crate::support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use support::*;

const A: &str = "111111111111.dkr.ecr.us-west-2.amazonaws.com";
const B: &str = "222222222222.dkr.ecr-fips.us-east-1.amazonaws.com";

fn docker_config(env: &TestEnv) -> PathBuf {
    env.home().join(".docker/config.json")
}

fn configure(env: &TestEnv, args: &[&str]) -> std::process::Output {
    let mut all = vec!["configure"];
    all.extend_from_slice(args);
    env.run(&all, b"")
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "stdout={} stderr={}",
        stdout(out),
        stderr(out)
    );
    stdout(out)
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn a_new_file_is_private_and_a_second_run_changes_nothing() {
    let env = TestEnv::new();
    let path = docker_config(&env);
    ok(&configure(
        &env,
        &["--registry", A, "--registry", &format!("https://{B}/v2/")],
    ));
    assert_eq!(mode(&path), 0o600);
    assert_eq!(
        json(&path),
        serde_json::json!({"credHelpers": {A: "ecr-login", B: "ecr-login"}})
    );
    let bytes = std::fs::read(&path).unwrap();
    let inode = std::fs::metadata(&path).unwrap().ino();
    let out = ok(&configure(&env, &["--registry", A, "--registry", B]));
    assert!(out.contains("up to date"), "{out}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    assert_eq!(
        std::fs::metadata(&path).unwrap().ino(),
        inode,
        "not even rewritten"
    );
}

#[test]
fn other_keys_entries_order_and_mode_are_kept() {
    let env = TestEnv::new();
    let path = docker_config(&env);
    let original = "{\n\t\"zeta\": {\"nested\": [1, 2, {\"x\": null}]},\n\t\"auths\": {\n\t\t\"https://index.docker.io/v1/\": {\"auth\": \"dXNlcjpwdw==\"}\n\t},\n\t\"credHelpers\": {\n\t\t\"gcr.io\": \"gcloud\"\n\t},\n\t\"alpha\": \"last\"\n}";
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, original).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    ok(&configure(&env, &["--registry", A]));
    assert_eq!(mode(&path), 0o640);
    let text = std::fs::read_to_string(&path).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["zeta", "auths", "credHelpers", "alpha"]);
    let helpers: Vec<&String> = v["credHelpers"].as_object().unwrap().keys().collect();
    assert_eq!(helpers, ["gcr.io", A]);
    assert_eq!(
        v["zeta"],
        serde_json::json!({"nested": [1, 2, {"x": null}]})
    );
    assert_eq!(
        v["auths"]["https://index.docker.io/v1/"]["auth"],
        "dXNlcjpwdw=="
    );
    assert!(
        text.contains("\n\t\"alpha\""),
        "the file's tab indentation: {text}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "no temp files left: {leftovers:?}");
}

#[test]
fn a_symlinked_config_stays_a_symlink() {
    let env = TestEnv::new();
    let path = docker_config(&env);
    let target = env.write_file("dotfiles/docker.json", "{\"auths\": {}}\n");
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink("../../dotfiles/docker.json", &path).unwrap();
    let out = ok(&configure(&env, &["--registry", A]));
    assert!(out.contains("symlink"), "{out}");
    assert!(
        std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(json(&target)["credHelpers"][A], "ecr-login");
    assert_eq!(json(&target)["auths"], serde_json::json!({}));
}

#[test]
fn another_helpers_entry_needs_force() {
    let env = TestEnv::new();
    let path = env.write_file(
        "home/.docker/config.json",
        &format!("{{\"credHelpers\": {{\"{A}\": \"desktop\"}}}}"),
    );
    let before = std::fs::read(&path).unwrap();
    let out = configure(&env, &["--registry", B, "--registry", A]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("desktop") && stderr(&out).contains("--force"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&path).unwrap(), before, "nothing written");

    let out = ok(&configure(&env, &["--registry", A, "--force"]));
    assert!(out.contains("was \"desktop\""), "{out}");
    assert_eq!(json(&path)["credHelpers"][A], "ecr-login");
}

#[test]
fn public_dry_run_and_remove() {
    let env = TestEnv::new();
    let path = docker_config(&env);
    let out = ok(&configure(&env, &["--public", "--dry-run"]));
    assert!(
        out.contains("public.ecr.aws") && out.contains("would"),
        "{out}"
    );
    assert!(!path.exists(), "a dry run writes nothing");

    ok(&configure(&env, &["--public", "--registry", A]));
    assert_eq!(json(&path)["credHelpers"]["public.ecr.aws"], "ecr-login");

    let out = ok(&configure(
        &env,
        &["--remove", "--registry", A, "--dry-run"],
    ));
    assert!(out.contains(A), "{out}");
    assert_eq!(json(&path)["credHelpers"][A], "ecr-login");

    ok(&configure(&env, &["--remove", "--registry", A]));
    assert_eq!(
        json(&path),
        serde_json::json!({"credHelpers": {"public.ecr.aws": "ecr-login"}})
    );
    ok(&configure(&env, &["--remove", "--public"]));
    assert_eq!(json(&path), serde_json::json!({}));
}

#[test]
fn podman_writes_the_auth_file_and_says_which() {
    let mut env = TestEnv::new();
    let runtime = env.dir.path().join("run");
    env.set("XDG_RUNTIME_DIR", path_str(&runtime));
    let out = ok(&configure(&env, &["--podman", "--registry", A]));
    let auth = runtime.join("containers/auth.json");
    assert!(out.contains(&path_str(&auth)), "{out}");
    assert!(out.contains("REGISTRY_AUTH_FILE"), "{out}");
    assert_eq!(json(&auth)["credHelpers"][A], "ecr-login");
    assert!(
        !docker_config(&env).exists(),
        "--podman alone leaves Docker's"
    );

    let named = env.dir.path().join("auth/podman.json");
    env.set("REGISTRY_AUTH_FILE", path_str(&named));
    ok(&configure(&env, &["--podman", "--docker", "--registry", B]));
    assert_eq!(json(&named)["credHelpers"][B], "ecr-login");
    assert_eq!(json(&docker_config(&env))["credHelpers"][B], "ecr-login");
}

#[test]
fn helm_writes_its_registry_config() {
    let mut env = TestEnv::new();
    let out = ok(&configure(&env, &["--helm", "--registry", A]));
    let default = env.home().join(".config/helm/registry/config.json");
    assert!(out.contains(&path_str(&default)), "{out}");
    assert_eq!(json(&default)["credHelpers"][A], "ecr-login");

    let xdg = env.dir.path().join("xdg");
    env.set("XDG_CONFIG_HOME", path_str(&xdg));
    ok(&configure(&env, &["--helm", "--registry", A]));
    assert_eq!(
        json(&xdg.join("helm/registry/config.json"))["credHelpers"][A],
        "ecr-login"
    );

    let named = env.dir.path().join("helm.json");
    env.set("HELM_REGISTRY_CONFIG", path_str(&named));
    ok(&configure(&env, &["--helm", "--registry", A]));
    assert_eq!(json(&named)["credHelpers"][A], "ecr-login");
}

#[test]
fn hosts_must_be_ecr_or_an_alias() {
    let env = TestEnv::new();
    for args in [
        &["--registry", "docker.io"][..],
        &["--registry", "https://a@b"],
        &[],
    ] {
        let out = configure(&env, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(!stderr(&out).is_empty());
    }
    assert!(!docker_config(&env).exists());

    env.write_file(
        "home/.ecr/config.toml",
        &format!("[[alias]]\nhost = \"registry.example.com\"\nregistry = \"{A}\"\n"),
    );
    ok(&configure(&env, &["--registry", "Registry.Example.com"]));
    assert_eq!(
        json(&docker_config(&env))["credHelpers"]["registry.example.com"],
        "ecr-login"
    );
}

#[test]
fn a_file_that_is_not_a_json_object_is_left_alone() {
    let env = TestEnv::new();
    for text in ["{\"auths\": ", "[1, 2]", "{\"credHelpers\": \"x\"}"] {
        let path = env.write_file("home/.docker/config.json", text);
        let out = configure(&env, &["--registry", A]);
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(stderr(&out).contains("left alone"), "{}", stderr(&out));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }
    // An empty file is an empty config.
    let path = env.write_file("home/.docker/config.json", "");
    ok(&configure(&env, &["--registry", A]));
    assert_eq!(json(&path)["credHelpers"][A], "ecr-login");
}

#[test]
fn root_editing_a_users_file_keeps_its_owner() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("not root: ownership cannot be given away, nothing to check");
        return;
    }
    let env = TestEnv::new();
    let path = env.write_file("home/.docker/config.json", "{}");
    std::os::unix::fs::chown(&path, Some(4321), Some(4322)).unwrap();
    ok(&configure(&env, &["--registry", A]));
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (4321, 4322));
    assert_eq!(json(&path)["credHelpers"][A], "ecr-login");
}

/// A host with a typo is refused, with the part that is wrong named, and nothing is written.
#[test]
fn typos_in_a_host_are_named_part_by_part() {
    let env = TestEnv::new();
    for (host, message) in [
        (
            "123456789012.dkr.ecr.us-weest-2.amazonaws.com",
            "region us-weest-2 is not an AWS region; did you mean us-west-2?",
        ),
        (
            "12345678901.dkr.ecr.us-west-2.amazonaws.com",
            "account id has 11 digits",
        ),
        (
            "123456789012.dkr.ecr.us-west-2.amazonaws.con",
            ".con is not an AWS DNS suffix; did you mean .com?",
        ),
        (
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com",
            "cn-north-1 belongs to the aws-cn partition (amazonaws.com.cn)",
        ),
    ] {
        let out = configure(&env, &["--registry", host]);
        assert_eq!(out.status.code(), Some(1), "{host}: {}", stdout(&out));
        let err = stderr(&out);
        assert!(err.contains(message), "{host}: {err:?}");
        assert_eq!(err.lines().count(), 1, "{host}: {err:?}");
    }
    assert!(!docker_config(&env).exists());

    // A region newer than this program is the user's to vouch for.
    let future = "123456789012.dkr.ecr.us-weest-2.amazonaws.com";
    ok(&configure(
        &env,
        &["--registry", future, "--allow-unknown-region"],
    ));
    assert_eq!(
        json(&docker_config(&env))["credHelpers"][future],
        "ecr-login"
    );
    // Taking a mistyped entry out needs no such word.
    ok(&configure(&env, &["--remove", "--registry", future]));
}

/// `configure` says when `PATH` finds another docker-credential-ecr-login first: the clients
/// would run that one, whatever this one wrote.
#[test]
fn another_helper_first_on_path_is_named() {
    let mut env = TestEnv::new();
    let other = env.write_file(
        "other-bin/docker-credential-ecr-login",
        "#!/bin/sh\nexit 1\n",
    );
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", other.parent().unwrap().display(), env.vars["PATH"]);
    env.set("PATH", path);
    let out = configure(&env, &["--registry", A]);
    ok(&out);
    let err = stderr(&out);
    assert!(
        err.starts_with("ecr-login: warning: ")
            && err.contains(&other.display().to_string())
            && err.contains("not this binary"),
        "{err:?}"
    );
    assert!(!stdout(&out).contains("warning"), "{}", stdout(&out));
}
