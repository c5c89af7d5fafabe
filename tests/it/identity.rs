//! Which identity gets which token: for every way the AWS configuration can change what the SDK
//! resolves, the cache must not hand out the token of the identity before. Each test changes
//! the configuration under one cache and checks who signed the token that comes back (the fake
//! puts the last four characters of the signing key id at the end of each password).

use crate::support;

use std::process::Command;
use std::time::Duration;
use support::*;

const PRIVATE: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com";
const KEY_ONE: &str = "AKIAFAKEFAKEFAKEONE1";
const KEY_TWO: &str = "AKIAFAKEFAKEFAKETWO2";

/// An environment whose credentials come from the shared files, not from variables.
fn files_env() -> TestEnv {
    let mut env = TestEnv::new();
    env.unset("AWS_ACCESS_KEY_ID")
        .unset("AWS_SECRET_ACCESS_KEY");
    env
}

/// The key id (its last four characters) that signed the token `get` answers with.
fn signer(env: &TestEnv) -> String {
    let answer = env.get_ok(PRIVATE);
    let secret = answer["Secret"].as_str().unwrap().to_string();
    secret.rsplit("-k").next().unwrap().to_string()
}

fn keys(header: &str, id: &str) -> String {
    format!("{header}\naws_access_key_id = {id}\naws_secret_access_key = s-{id}\n")
}

fn write(path: &std::path::Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    // Atomic, as editors and `aws configure` write: a reader sees one version or the other.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn credentials_file(env: &TestEnv) -> std::path::PathBuf {
    std::path::PathBuf::from(&env.vars["AWS_SHARED_CREDENTIALS_FILE"])
}

fn config_file(env: &TestEnv) -> std::path::PathBuf {
    std::path::PathBuf::from(&env.vars["AWS_CONFIG_FILE"])
}

#[test]
fn a_comment_after_a_section_header_is_read_as_the_sdk_reads_it() {
    let env = files_env();
    let creds = credentials_file(&env);
    write(&creds, &keys("[default] # work account", KEY_ONE));
    assert_eq!(signer(&env), "ONE1");
    write(&creds, &keys("[default] # work account", KEY_TWO));
    assert_eq!(signer(&env), "TWO2", "the old identity's token was served");
}

#[test]
fn a_registry_config_profile_with_a_commented_header() {
    let mut env = files_env();
    let config = env.write_file(
        "ecr-config.toml",
        &format!("[[registry]]\nhost = \"{PRIVATE}\"\nprofile = \"dev\"\n"),
    );
    env.set("AWS_ECR_CONFIG", path_str(&config));
    let creds = credentials_file(&env);
    write(&creds, &keys("[dev] ; the dev account", KEY_ONE));
    assert_eq!(signer(&env), "ONE1");
    write(&creds, &keys("[dev] ; the dev account", KEY_TWO));
    assert_eq!(signer(&env), "TWO2");
}

#[test]
fn a_tab_between_profile_and_its_name() {
    let mut env = files_env();
    env.set("AWS_PROFILE", "dev");
    let config = config_file(&env);
    write(&config, &keys("[profile\tdev]", KEY_ONE));
    assert_eq!(signer(&env), "ONE1");
    write(&config, &keys("[profile\tdev]", KEY_TWO));
    assert_eq!(signer(&env), "TWO2");
}

#[test]
fn a_config_file_over_a_mebibyte_is_keyed_whole() {
    let mut env = files_env();
    env.set("AWS_PROFILE", "dev");
    // What tools that write one SSO profile per account produce.
    let mut padding = String::new();
    let mut n = 0;
    while padding.len() < 1_500_000 {
        padding.push_str(&format!(
            "[profile account-{n}]\nsso_session = corp\nsso_account_id = {n:012}\nsso_role_name = Developer\nregion = us-east-1\n\n"
        ));
        n += 1;
    }
    let config = |role: &str| {
        format!(
            "{padding}[profile dev]\nrole_arn = arn:aws:iam::123456789012:role/{role}\nsource_profile = base\n\n[profile base]\naws_access_key_id = {KEY_ONE}\naws_secret_access_key = s\n"
        )
    };
    write(&config_file(&env), &config("Developer"));
    env.get_ok(PRIVATE);
    write(&config_file(&env), &config("Admin"));
    env.get_ok(PRIVATE);
    let roles: Vec<String> = env
        .aws
        .calls()
        .iter()
        .filter(|c| c.service == "sts:AssumeRole")
        .filter_map(|c| {
            c.form
                .iter()
                .find(|(k, _)| k == "RoleArn")
                .map(|(_, v)| v.clone())
        })
        .collect();
    assert_eq!(
        roles,
        [
            "arn:aws:iam::123456789012:role/Developer",
            "arn:aws:iam::123456789012:role/Admin"
        ],
        "the Developer token was served for Admin"
    );
    assert_eq!(env.aws.count("ecr"), 2);
}

#[test]
fn a_literal_tilde_in_the_file_variables_is_the_home_directory() {
    for (var, file) in [
        ("AWS_SHARED_CREDENTIALS_FILE", "creds"),
        ("AWS_CONFIG_FILE", "cfg"),
    ] {
        let mut env = files_env();
        env.set(var, format!("~/{file}"));
        let path = env.home().join(file);
        write(&path, &keys("[default]", KEY_ONE));
        assert_eq!(signer(&env), "ONE1", "{var}");
        write(&path, &keys("[default]", KEY_TWO));
        assert_eq!(
            signer(&env),
            "TWO2",
            "{var}: the old identity's token was served"
        );
    }
}

/// `AWS_PROFILE=` selects a profile named "" for the SDK: no such profile, so the chain goes
/// on to container credentials, while unset selects `default`. Two identities, one entry.
#[test]
fn an_empty_aws_profile_is_not_an_unset_one() {
    let mut env = files_env();
    env.set(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        env.aws.container_url(),
    );
    env.set("AWS_CONTAINER_AUTHORIZATION_TOKEN", "podtoken");
    write(&credentials_file(&env), &keys("[default]", KEY_ONE));
    assert_eq!(signer(&env), "ONE1");
    env.set("AWS_PROFILE", "");
    let container = signer(&env);
    assert_ne!(
        container, "ONE1",
        "the default profile's token went to the container identity"
    );
    env.unset("AWS_PROFILE");
    assert_eq!(signer(&env), "ONE1");
}

/// `AWS_DEFAULT_PROFILE` is what the AWS CLI and the Go helper use when `AWS_PROFILE` is unset:
/// the token comes from that profile (and `doctor` says so).
#[test]
fn aws_default_profile_selects_the_profile_doctor_names() {
    let mut env = files_env();
    write(
        &credentials_file(&env),
        &format!("{}{}", keys("[default]", KEY_ONE), keys("[dev]", KEY_TWO)),
    );
    env.set("AWS_DEFAULT_PROFILE", "dev");
    assert_eq!(signer(&env), "TWO2");
    let out = env.run(&["doctor", "--json", PRIVATE], b"");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let creds = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "credentials")
        .unwrap()
        .clone();
    assert_eq!(creds["details"]["profile"], "dev", "{creds}");
    env.set("AWS_PROFILE", "default");
    assert_eq!(signer(&env), "ONE1", "AWS_PROFILE wins");
}

#[test]
fn pods_with_one_credentials_uri_and_two_tokens_are_two_identities() {
    let mut env = files_env();
    env.set(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        env.aws.container_url(),
    );
    env.set("AWS_CONTAINER_AUTHORIZATION_TOKEN", "token-for-a");
    let a = signer(&env);
    env.set("AWS_CONTAINER_AUTHORIZATION_TOKEN", "token-for-b");
    let b = signer(&env);
    assert_ne!(a, b, "pod B was served pod A's token");

    // The same through a token file with the same path (EKS Pod Identity mounts one).
    let mut env = files_env();
    let token_file = env.write_file("pod-identity-token", "token-for-a");
    env.set(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        env.aws.container_url(),
    );
    env.set(
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        path_str(&token_file),
    );
    let a = signer(&env);
    write(&token_file, "token-for-b");
    let b = signer(&env);
    assert_ne!(a, b, "pod B was served pod A's token (token file)");
}

#[test]
fn an_edited_credential_process_or_its_variables_change_the_identity() {
    let mut env = files_env();
    let script = env.dir.path().join("cred.sh");
    let body = |id: &str| {
        format!(
            "#!/bin/sh\nif [ \"$1\" = two ]; then id={KEY_TWO}; else id={id}; fi\necho \"{{\\\"Version\\\":1,\\\"AccessKeyId\\\":\\\"$id\\\",\\\"SecretAccessKey\\\":\\\"s\\\"}}\"\n"
        )
    };
    write(&script, &body(KEY_ONE));
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    write(
        &config_file(&env),
        &format!(
            "[default]\ncredential_process = {} $TEAM\n",
            script.display()
        ),
    );
    env.set("TEAM", "one");
    assert_eq!(signer(&env), "ONE1");
    // Edited in place: same path, same command line.
    std::fs::write(&script, body("AKIAFAKEFAKEFAKETRE3")).unwrap();
    assert_eq!(
        signer(&env),
        "TRE3",
        "the edited script's identity got the old token"
    );
    env.set("TEAM", "two");
    assert_eq!(
        signer(&env),
        "TWO2",
        "a changed variable's identity got the old token"
    );
}

/// Two EC2 instances with different roles share a home directory (NFS, EFS), or an image was
/// baked with a cache: instance metadata says nothing in the configuration, so the machine
/// itself must be part of the key. The second machine is this one with another boot id and
/// machine id, bind-mounted in a private mount namespace.
#[test]
fn instance_roles_on_two_machines_sharing_a_home() {
    if !is_root() || !require_tool("unshare") {
        eprintln!("SKIPPED: needs root for unshare -m");
        return;
    }
    let mut env = files_env();
    env.unset("AWS_EC2_METADATA_DISABLED");
    env.set("AWS_EC2_METADATA_SERVICE_ENDPOINT", env.aws.imds_url());
    env.aws.set_imds_role("role-one");
    assert_eq!(signer(&env), "EONE", "role-one's key id ends in EONE");
    assert!(env.aws.count("imds") > 0, "instance metadata was not asked");

    env.aws.set_imds_role("role-two");
    let other = env.dir.path().join("other-machine");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(
        other.join("boot_id"),
        "11111111-2222-3333-4444-555555555555\n",
    )
    .unwrap();
    std::fs::write(
        other.join("machine-id"),
        "0123456789abcdef0123456789abcdef\n",
    )
    .unwrap();
    let script = format!(
        "mount --bind {o}/boot_id /proc/sys/kernel/random/boot_id && mount --bind {o}/machine-id /etc/machine-id && exec \"$0\" get",
        o = other.display()
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "--propagation", "private", "sh", "-c", &script])
        .arg(bin())
        .env_clear()
        .envs(&env.vars);
    let out = run_bounded(cmd, PRIVATE.as_bytes(), Duration::from_secs(60));
    assert!(out.status.success(), "{}", stderr(&out));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let secret = answer["Secret"].as_str().unwrap();
    assert!(
        secret.ends_with("-kETWO"),
        "the second machine's role got the first role's token: {secret}"
    );
}

/// The credentials file is rewritten (A, B, A, ...) while cold `get`s run: whatever each of
/// them read, no entry may end up holding one identity's token under the other's key. After
/// each round, with the file settled, each identity must get a token signed by itself.
#[test]
fn rewriting_the_credentials_file_during_cold_gets_never_crosses_identities() {
    let env = files_env();
    let creds = credentials_file(&env);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for round in 0..6 {
        stop.store(false, std::sync::atomic::Ordering::SeqCst);
        let writer = {
            let creds = creds.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let id = if n.is_multiple_of(2) {
                        KEY_ONE
                    } else {
                        KEY_TWO
                    };
                    let tmp = creds.with_extension(format!("w{n}"));
                    std::fs::write(&tmp, keys("[default]", id)).unwrap();
                    std::fs::rename(&tmp, &creds).unwrap();
                    n += 1;
                }
            })
        };
        env.herd(4, PRIVATE);
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        writer.join().unwrap();
        write(&creds, &keys("[default]", KEY_ONE));
        assert_eq!(
            signer(&env),
            "ONE1",
            "round {round}: identity one got two's token"
        );
        write(&creds, &keys("[default]", KEY_TWO));
        assert_eq!(
            signer(&env),
            "TWO2",
            "round {round}: identity two got one's token"
        );
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}
