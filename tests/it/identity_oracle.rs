//! The SDK as the oracle of identity: for generated shared config and credentials files and
//! environments, whatever the SDK resolves decides whether two configurations may share a
//! cache entry. Configuration B, run after A against A's cache, must get a token signed by the
//! credentials the SDK resolves for B on its own (a run with an empty cache): never A's token
//! when the SDK resolves B differently.
//!
//! The files are built from the pieces that tripped keying up before: comments after headers,
//! tabs and odd spacing, `[default]` and `[profile default]`, `source_profile` chains, a `~`
//! in the file variables, `AWS_PROFILE` empty or unset, `AWS_DEFAULT_PROFILE`. Runs
//! `ECR_LOGIN_ORACLE_CASES` cases (32 unless set; CI runs more).

use crate::support;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use support::*;

const PRIVATE: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com";
const IDS: [&str; 3] = [
    "AKIAFAKEFAKEFAKEAAA1",
    "AKIAFAKEFAKEFAKEBBB2",
    "AKIAFAKEFAKEFAKECCC3",
];

#[derive(Debug, Clone)]
struct World {
    /// Which key id (index into IDS) each profile has, and how its header is written.
    default_key: Option<(usize, Header)>,
    dev_key: Option<(usize, Header)>,
    /// `dev` gets no keys of its own but a `source_profile = default` chain.
    dev_chains_to_default: bool,
    /// AWS_PROFILE: unset, empty, `dev`, `default`.
    aws_profile: Option<&'static str>,
    aws_default_profile: Option<&'static str>,
    /// Keys in the credentials file (else in the config file).
    in_credentials: bool,
    /// `~/...` in AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE.
    tilde: bool,
}

#[derive(Debug, Clone, Copy)]
enum Header {
    Plain,
    Comment,
    Tab,
    Spaces,
    ProfileDefault,
}

fn header(name: &str, style: Header, in_credentials: bool) -> String {
    let named = |n: &str| {
        if in_credentials || n == "default" {
            n.to_string()
        } else {
            format!("profile {n}")
        }
    };
    match style {
        Header::Plain => format!("[{}]", named(name)),
        Header::Comment => format!("[{}] # the {name} account", named(name)),
        Header::Tab if !in_credentials && name != "default" => format!("[profile\t{name}]"),
        Header::Tab | Header::Spaces => format!("[  {}  ]", named(name)),
        Header::ProfileDefault if !in_credentials => format!("[profile {name}]"),
        Header::ProfileDefault => format!("[{name}]"),
    }
}

fn world() -> impl Strategy<Value = World> {
    let header = prop_oneof![
        Just(Header::Plain),
        Just(Header::Comment),
        Just(Header::Tab),
        Just(Header::Spaces),
        Just(Header::ProfileDefault),
    ];
    let key = proptest::option::of((0..IDS.len(), header));
    (
        key.clone(),
        key,
        any::<bool>(),
        proptest::option::of(prop_oneof![Just(""), Just("dev"), Just("default")]),
        proptest::option::of(Just("dev")),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(
                default_key,
                dev_key,
                chain,
                aws_profile,
                aws_default_profile,
                in_credentials,
                tilde,
            )| World {
                default_key,
                dev_key,
                dev_chains_to_default: chain,
                aws_profile,
                aws_default_profile,
                in_credentials,
                tilde,
            },
        )
}

/// Sets up `env` for `world`: files, variables.
fn apply(env: &mut TestEnv, w: &World) {
    env.unset("AWS_ACCESS_KEY_ID")
        .unset("AWS_SECRET_ACCESS_KEY");
    env.unset("AWS_PROFILE").unset("AWS_DEFAULT_PROFILE");
    let mut keyed = String::new();
    let mut config = String::new();
    for (name, key) in [("default", w.default_key), ("dev", w.dev_key)] {
        if let Some((id, style)) = key {
            keyed.push_str(&format!(
                "{}\naws_access_key_id = {}\naws_secret_access_key = s\n\n",
                header(name, style, w.in_credentials),
                IDS[id]
            ));
        }
    }
    if w.dev_chains_to_default && w.dev_key.is_none() {
        // A chain without a role is not a chain to the SDK: give it one (the fake's STS answers
        // AssumeRole with keys of its own, which the test then compares).
        config.push_str(
            "[profile dev]\nrole_arn = arn:aws:iam::123456789012:role/dev\nsource_profile = default\n\n",
        );
    }
    let (creds_text, config_text) = if w.in_credentials {
        (keyed, config)
    } else {
        (String::new(), format!("{config}{keyed}"))
    };
    let home = env.home();
    std::fs::create_dir_all(home.join(".aws")).unwrap();
    std::fs::write(home.join(".aws/credentials"), creds_text).unwrap();
    std::fs::write(home.join(".aws/config"), config_text).unwrap();
    if w.tilde {
        env.set("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials");
        env.set("AWS_CONFIG_FILE", "~/.aws/config");
    } else {
        env.set(
            "AWS_SHARED_CREDENTIALS_FILE",
            path_str(&home.join(".aws/credentials")),
        );
        env.set("AWS_CONFIG_FILE", path_str(&home.join(".aws/config")));
    }
    if let Some(p) = w.aws_profile {
        env.set("AWS_PROFILE", p);
    }
    if let Some(p) = w.aws_default_profile {
        env.set("AWS_DEFAULT_PROFILE", p);
    }
}

/// Who signed the answer: the key id of the ECR call that issued the password, or `None`
/// when the SDK resolves no credentials for this world.
fn signer_of(env: &TestEnv) -> Option<String> {
    let out = env.get(PRIVATE);
    if !out.status.success() {
        return None;
    }
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let secret = answer["Secret"].as_str()?.to_string();
    // The fake ends each password with `-k` and the last four characters of its signer.
    env.aws
        .calls()
        .iter()
        .rev()
        .filter(|c| c.service == "ecr")
        .find(|c| {
            secret.ends_with(&format!(
                "-k{}",
                &c.access_key[c.access_key.len().saturating_sub(4)..]
            ))
        })
        .map(|c| c.access_key.clone())
}

/// The same world in a fresh environment and cache: what the SDK resolves for it alone.
fn oracle(w: &World) -> Option<String> {
    let mut env = TestEnv::new();
    apply(&mut env, w);
    let out = env.get(PRIVATE);
    if !out.status.success() {
        return None;
    }
    env.aws
        .calls()
        .iter()
        .rev()
        .find(|c| c.service == "ecr")
        .map(|c| c.access_key.clone())
}

/// Key ids from STS differ per call; compare what they stand for: static key ids as they
/// are, assumed-role ids by role (the fake's `ASIA<role tag>` prefix).
fn identity(key_id: &str) -> String {
    if key_id.starts_with("ASIA") {
        key_id
            .trim_end_matches(|c: char| c.is_ascii_digit())
            .to_string()
    } else {
        key_id.to_string()
    }
}

/// One change to a world: mostly to what the files resolve to, sometimes to how they are
/// found or written. Configurations that differ in one place are the ones a key must still
/// tell apart.
#[derive(Debug, Clone)]
enum Change {
    DefaultKey(usize),
    DevKey(usize),
    AwsProfile(Option<&'static str>),
    AwsDefaultProfile(Option<&'static str>),
    Tilde,
    Header(Header),
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        3 => (0..IDS.len()).prop_map(Change::DefaultKey),
        3 => (0..IDS.len()).prop_map(Change::DevKey),
        1 => proptest::option::of(prop_oneof![Just(""), Just("dev"), Just("default")])
            .prop_map(Change::AwsProfile),
        1 => proptest::option::of(Just("dev")).prop_map(Change::AwsDefaultProfile),
        1 => Just(Change::Tilde),
        1 => prop_oneof![
            Just(Header::Plain),
            Just(Header::Comment),
            Just(Header::Tab),
            Just(Header::Spaces),
            Just(Header::ProfileDefault),
        ]
        .prop_map(Change::Header),
    ]
}

fn changed(w: &World, c: &Change) -> World {
    let mut w = w.clone();
    match *c {
        Change::DefaultKey(id) => {
            w.default_key = Some((id, w.default_key.map_or(Header::Plain, |k| k.1)))
        }
        Change::DevKey(id) => w.dev_key = Some((id, w.dev_key.map_or(Header::Plain, |k| k.1))),
        Change::AwsProfile(p) => w.aws_profile = p,
        Change::AwsDefaultProfile(p) => w.aws_default_profile = p,
        Change::Tilde => w.tilde = !w.tilde,
        Change::Header(h) => {
            w.default_key = w.default_key.map(|(id, _)| (id, h));
            w.dev_key = w.dev_key.map(|(id, _)| (id, h));
        }
    }
    w
}

#[test]
fn keys_differ_whenever_the_sdk_resolves_differently() {
    let cases = std::env::var("ECR_LOGIN_ORACLE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&(world(), change()), |(a, c)| {
        let b = changed(&a, &c);
        let mut env = TestEnv::new();
        apply(&mut env, &a);
        let _ = signer_of(&env);
        apply(&mut env, &b);
        let served = signer_of(&env);
        let expected = oracle(&b);
        match (served, expected) {
            (Some(s), Some(e)) if identity(&s) != identity(&e) => Err(TestCaseError::fail(
                format!("B was served a token signed by {s}; alone, the SDK resolves {e}"),
            )),
            (Some(s), None) => Err(TestCaseError::fail(format!(
                "B was served a token signed by {s}; alone, the SDK resolves no credentials"
            ))),
            _ => Ok(()),
        }
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
