//! Files that steer tokens or receive logs are trusted as the cache is: ours (or root's), and
//! writable by nobody else; the log file is never reached through a symlink.

use crate::support;

use std::os::unix::fs::PermissionsExt;
use support::*;

const PRIVATE: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com";

fn alias_config(env: &TestEnv) -> std::path::PathBuf {
    let path = env.write_file(
        "ecr/config.toml",
        &format!("[[alias]]\nhost = \"attacker.example.net\"\nregistry = \"{PRIVATE}\"\n"),
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    path
}

#[test]
fn a_registry_config_others_can_write_is_refused() {
    let mut env = TestEnv::new();
    let config = alias_config(&env);
    env.set("AWS_ECR_CONFIG", path_str(&config));
    env.get_ok("attacker.example.net");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = env.get("attacker.example.net");
    assert_not_found(&out);
    assert!(stderr(&out).contains("chmod go-w"), "{}", stderr(&out));
    let out = env.get(PRIVATE);
    assert_not_found(&out);
}

#[test]
fn a_registry_config_owned_by_someone_else_is_refused() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: needs root to chown");
        return;
    }
    let mut env = TestEnv::new();
    let config = alias_config(&env);
    env.set("AWS_ECR_CONFIG", path_str(&config));
    std::os::unix::fs::chown(&config, Some(4242), Some(4242)).unwrap();
    let out = env.get("attacker.example.net");
    assert_not_found(&out);
    assert!(
        stderr(&out).contains("owned by uid 4242"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_log_file_is_not_followed_through_a_symlink_nor_appended_to_others_files() {
    let mut env = TestEnv::new();
    let target = env.write_file("someone-elses-file", "precious\n");
    let link = env.dir.path().join("ecr-login.log");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    env.set("AWS_ECR_LOG_FILE", path_str(&link));
    env.set("AWS_ECR_LOG_LEVEL", "debug");
    let out = env.get(PRIVATE);
    assert!(out.status.success());
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
    assert!(stderr(&out).contains("symbolic link"), "{}", stderr(&out));

    let writable = env.write_file("shared.log", "");
    std::fs::set_permissions(&writable, std::fs::Permissions::from_mode(0o666)).unwrap();
    env.set("AWS_ECR_LOG_FILE", path_str(&writable));
    let out = env.get(PRIVATE);
    assert!(out.status.success());
    assert_eq!(std::fs::read_to_string(&writable).unwrap(), "");
    assert!(
        stderr(&out).contains("writable by group or others"),
        "{}",
        stderr(&out)
    );
}
