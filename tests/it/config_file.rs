//! The registry config file through the binary: per-registry profiles and roles, wildcards,
//! aliases for custom domains, and what a broken file does.

use crate::support;

use support::*;

const MAPPED: &str = "111111111111.dkr.ecr.us-west-2.amazonaws.com";
const UNMAPPED: &str = "222222222222.dkr.ecr.us-west-2.amazonaws.com";
const DEV_KEY: &str = "AKIADEVDEVDEVDEV0001";

fn write_config(env: &TestEnv, text: &str) -> std::path::PathBuf {
    env.write_file("home/.ecr/config.toml", text)
}

#[test]
fn a_profile_per_registry_and_its_own_cache_entry() {
    let env = TestEnv::new();
    env.write_file(
        "home/.aws/credentials",
        &format!("[dev]\naws_access_key_id = {DEV_KEY}\naws_secret_access_key = devsecret\n"),
    );
    write_config(
        &env,
        &format!("[[registry]]\nhost = \"{MAPPED}\"\nprofile = \"dev\"\n"),
    );
    let mapped = env.get_ok(MAPPED);
    let unmapped = env.get_ok(UNMAPPED);
    assert_ne!(
        mapped["Secret"], unmapped["Secret"],
        "the mapping must key the cache"
    );
    let keys: Vec<String> = env.aws.calls().into_iter().map(|c| c.access_key).collect();
    assert_eq!(keys, [DEV_KEY, ACCESS_KEY]);
    // Both are cache hits now.
    assert_eq!(env.get_ok(MAPPED)["Secret"], mapped["Secret"]);
    assert_eq!(env.get_ok(UNMAPPED)["Secret"], unmapped["Secret"]);
    assert_eq!(env.aws.total(), 2);

    // Editing the mapped profile changes whose token it is, so it must miss the cache.
    env.write_file(
        "home/.aws/credentials",
        "[dev]\naws_access_key_id = AKIANEWNEWNEWNEW0001\naws_secret_access_key = newsecret\n",
    );
    env.get_ok(MAPPED);
    assert_eq!(
        env.aws.calls().last().unwrap().access_key,
        "AKIANEWNEWNEWNEW0001"
    );
}

#[test]
fn a_role_for_every_region_of_an_account() {
    let env = TestEnv::new();
    write_config(
        &env,
        "[[registry]]\nhost = \"333333333333.dkr.ecr.*.amazonaws.com\"\nrole_arn = \"arn:aws:iam::333333333333:role/puller\"\n",
    );
    env.get_ok("333333333333.dkr.ecr.us-east-1.amazonaws.com");
    let calls = env.aws.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0].service, "sts:AssumeRole");
    assert_eq!(calls[0].access_key, ACCESS_KEY, "assumed from the chain");
    assert!(calls[0].form.contains(&(
        "RoleArn".into(),
        "arn:aws:iam::333333333333:role/puller".into()
    )));
    assert_eq!(calls[1].service, "ecr");
    assert!(
        calls[1].access_key.starts_with("ASIA"),
        "the token is fetched with the role: {}",
        calls[1].access_key
    );
    assert_eq!(calls[1].region, "us-east-1");

    env.get_ok("333333333333.dkr.ecr.eu-west-1.amazonaws.com");
    assert_eq!(env.aws.count("ecr"), 2);
    assert_eq!(env.aws.calls().last().unwrap().region, "eu-west-1");
    // The wildcard is one label: another account is not mapped.
    let before = env.aws.count("sts:AssumeRole");
    env.get_ok("444444444444.dkr.ecr.eu-west-1.amazonaws.com");
    assert_eq!(env.aws.count("sts:AssumeRole"), before);
}

#[test]
fn a_role_assumed_from_a_profile_in_another_region() {
    let env = TestEnv::new();
    env.write_file(
        "home/.aws/credentials",
        &format!("[dev]\naws_access_key_id = {DEV_KEY}\naws_secret_access_key = devsecret\n"),
    );
    write_config(
        &env,
        &format!(
            "[[registry]]\nhost = \"{MAPPED}\"\nprofile = \"dev\"\nrole_arn = \"arn:aws:iam::111111111111:role/ci\"\nregion = \"eu-central-1\"\n"
        ),
    );
    env.get_ok(MAPPED);
    let calls = env.aws.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(
        (
            calls[0].service.as_str(),
            calls[0].access_key.as_str(),
            calls[0].region.as_str()
        ),
        ("sts:AssumeRole", DEV_KEY, "eu-central-1")
    );
    assert_eq!(
        (calls[1].service.as_str(), calls[1].region.as_str()),
        ("ecr", "us-west-2"),
        "the token comes from the registry's own region"
    );
}

#[test]
fn an_alias_is_answered_as_its_registry() {
    let env = TestEnv::new();
    write_config(
        &env,
        "[[alias]]\nhost = \"registry.example.com\"\nregistry = \"123456789012.dkr.ecr.eu-west-1.amazonaws.com\"\n",
    );
    let answer = env.get_ok("https://registry.example.com/v2/");
    assert_eq!(answer["ServerURL"], "https://registry.example.com/v2/");
    assert_eq!(answer["Username"], "AWS");
    let calls = env.aws.calls();
    assert_eq!(
        (calls[0].service.as_str(), calls[0].region.as_str()),
        ("ecr", "eu-west-1")
    );
    // The alias shares the registry's token (same region and identity).
    let direct = env.get_ok("123456789012.dkr.ecr.eu-west-1.amazonaws.com");
    assert_eq!(direct["Secret"], answer["Secret"]);
    assert_eq!(env.aws.total(), 1);

    let out = env.run(&["list"], b"unused");
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list["https://registry.example.com"], "AWS", "{list}");

    for other in [
        "other.example.com",
        "registry.example.com.evil.example",
        "evil.registry.example.com",
    ] {
        let out = env.get(other);
        assert_not_found(&out);
        assert!(stderr(&out).is_empty(), "{other}: {}", stderr(&out));
    }
    assert_eq!(env.aws.total(), 1);
}

#[test]
fn a_broken_file_names_the_file_and_line_and_serves_nothing() {
    let env = TestEnv::new();
    let path = write_config(
        &env,
        &format!("# registries\n[[registry]]\nhost = \"{MAPPED}\"\nrole = \"x\"\n"),
    );
    let out = env.get(MAPPED);
    assert_not_found(&out);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{}:4:", path.display())),
        "the file and line: {err}"
    );
    assert!(err.contains("unknown field"), "the problem: {err}");
    assert_eq!(env.aws.total(), 0);

    write_config(&env, "[[registry]\n");
    let out = env.get(MAPPED);
    assert_not_found(&out);
    assert!(stderr(&out).contains(":1:"), "{}", stderr(&out));

    write_config(
        &env,
        &format!(
            "[[registry]]\nhost = \"{MAPPED}\"\nrole_arn = \"arn:aws:iam::111111111111:user/bob\"\n"
        ),
    );
    let out = env.get(MAPPED);
    assert_not_found(&out);
    assert!(
        stderr(&out).contains(":3:") && stderr(&out).contains("not an IAM role ARN"),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.aws.total(), 0);
}

#[test]
fn aws_ecr_config_chooses_the_file() {
    let mut env = TestEnv::new();
    let path = env.write_file(
        "elsewhere/ecr.toml",
        "[[alias]]\nhost = \"cr.example.org\"\nregistry = \"public.ecr.aws\"\n",
    );
    // A file at the default place is ignored once AWS_ECR_CONFIG names another.
    write_config(&env, "this is not toml");
    env.set("AWS_ECR_CONFIG", path_str(&path));
    env.get_ok("cr.example.org");
    assert_eq!(env.aws.calls()[0].service, "ecr-public");

    env.set(
        "AWS_ECR_CONFIG",
        path_str(&env.dir.path().join("missing.toml")),
    );
    let out = env.get(MAPPED);
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("missing.toml") && stderr(&out).contains("does not exist"),
        "a named file that is missing is worth a warning: {}",
        stderr(&out)
    );
}

#[test]
fn no_file_no_message() {
    let env = TestEnv::new();
    let out = env.get(MAPPED);
    assert!(out.status.success());
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}
