//! A fingerprint of the credential source, computed without resolving credentials.
//!
//! The cache must never give one identity's token to another, and a cache hit must not run the
//! credential chain (STS, SSO, IMDS and `credential_process` are most of the Go helper's cost).
//! So entries are keyed by a hash of everything that *selects* the credentials: the environment
//! variables the chain reads, and the selected profile's sections of the shared files (following
//! `source_profile` and `sso_session`). Change any of them and the fingerprint changes. Only the
//! hash is stored, never a key id or secret in clear.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Environment variables that choose or configure the credential source or the endpoint a token
/// comes from. Secret values are included only through the hash.
const SELECTING_VARS: &[&str] = &[
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_ECR",
    "AWS_ENDPOINT_URL_ECR_PUBLIC",
    "AWS_ENDPOINT_URL_STS",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
];

/// The identity fingerprint: hex, 32 characters (128 bits of SHA-256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint(pub String);

impl Fingerprint {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Computes the fingerprint for the current process environment. `extra` carries whatever else
/// selects credentials for this request (a per-registry profile or role from the registry config,
/// a kubelet per-pod role), so that each mapping gets its own cache entries.
pub fn fingerprint(extra: &[(&str, &str)]) -> Fingerprint {
    fingerprint_with(&|name| std::env::var(name).ok(), extra)
}

/// The same, with the environment supplied by the caller (for tests).
pub fn fingerprint_with(
    env: &dyn Fn(&str) -> Option<String>,
    extra: &[(&str, &str)],
) -> Fingerprint {
    let mut hasher = Sha256::new();
    let mut feed = |kind: &str, name: &str, value: &str| {
        // Length-prefixed fields: no two different inputs hash the same bytes.
        for part in [kind, name, value] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
    };
    feed("version", "", "1");
    for name in SELECTING_VARS {
        if let Some(value) = env(name).filter(|v| !v.is_empty()) {
            feed("env", name, &value);
        }
    }
    for (name, value) in extra {
        feed("extra", name, value);
    }
    let home = env("HOME").map(PathBuf::from);
    let profile = env("AWS_PROFILE")
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "default".to_string());
    let config_path = env("AWS_CONFIG_FILE")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".aws/config")));
    let creds_path = env("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".aws/credentials")));
    let config = config_path.as_deref().and_then(read_small);
    let creds = creds_path.as_deref().and_then(read_small);
    for (kind, line) in profile_lines(config.as_deref(), creds.as_deref(), &profile) {
        feed(kind, "", &line);
    }
    let digest = hasher.finalize();
    let mut hex = String::with_capacity(32);
    for byte in &digest[..16] {
        hex.push_str(&format!("{byte:02x}"));
    }
    Fingerprint(hex)
}

/// A digest of the shared-file sections that define `profile` (following `source_profile` and
/// `sso_session`), for a profile chosen other than by `AWS_PROFILE` (the registry config), so
/// that editing that profile changes the cache key as editing the default one does. Hex; the
/// lines themselves (which may hold a secret key) never leave this function.
pub fn profile_digest(profile: &str) -> String {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let path = |var: &str, default: &str| {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(default)))
    };
    let config = path("AWS_CONFIG_FILE", ".aws/config")
        .as_deref()
        .and_then(read_small);
    let creds = path("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials")
        .as_deref()
        .and_then(read_small);
    let mut hasher = Sha256::new();
    for (kind, line) in profile_lines(config.as_deref(), creds.as_deref(), profile) {
        for part in [kind, line.as_str()] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
    }
    hasher.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Shared config files are small; a huge one is not read (and so does not key the cache).
fn read_small(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.len() > 1 << 20 {
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// The lines of the sections that define `profile`: its config and credentials sections, then
/// those of its `source_profile` chain and `sso_session`, each tagged with where it came from.
fn profile_lines(
    config: Option<&str>,
    creds: Option<&str>,
    profile: &str,
) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    let mut next = Some(profile.to_string());
    // Bounded: a source_profile loop ends once every profile was visited, and chains are short.
    while let Some(name) = next.take() {
        if seen.contains(&name) || seen.len() >= 8 {
            break;
        }
        let mut section = Vec::new();
        if let Some(config) = config {
            section.extend(section_lines(config, |h| config_section_is(h, &name)));
        }
        for line in &section {
            if let Some(session) = setting(line, "sso_session") {
                let session_lines =
                    config.map(|c| section_lines(c, |h| h == format!("sso-session {session}")));
                out.extend(
                    session_lines
                        .into_iter()
                        .flatten()
                        .map(|l| ("sso-session", l)),
                );
            }
            if let Some(source) = setting(line, "source_profile") {
                next = Some(source.to_string());
            }
        }
        out.extend(section.into_iter().map(|l| ("config", l)));
        if let Some(creds) = creds {
            out.extend(
                section_lines(creds, |h| h == name)
                    .into_iter()
                    .map(|l| ("credentials", l)),
            );
        }
        seen.push(name);
    }
    out
}

fn config_section_is(header: &str, profile: &str) -> bool {
    match header.strip_prefix("profile ") {
        Some(name) => name.trim() == profile,
        None => profile == "default" && header == "default",
    }
}

/// The meaningful lines (trimmed, no comments or blanks) of every section whose header, with the
/// brackets and surrounding space removed, satisfies `wanted`.
fn section_lines(text: &str, wanted: impl Fn(&str) -> bool) -> Vec<String> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = wanted(header.trim());
            continue;
        }
        if inside {
            out.push(line.to_string());
        }
    }
    out
}

/// The value of `key = value` on a section line.
fn setting<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let (k, v) = line.split_once('=')?;
    (k.trim() == key).then(|| v.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn fp(vars: &[(&str, &str)]) -> String {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        fingerprint_with(&|n| map.get(n).cloned(), &[]).0
    }

    #[test]
    fn same_source_same_fingerprint() {
        let a = fp(&[("AWS_ACCESS_KEY_ID", "AKIA1"), ("HOME", "/nonexistent")]);
        let b = fp(&[("AWS_ACCESS_KEY_ID", "AKIA1"), ("HOME", "/nonexistent")]);
        assert_eq!(a, b);
        assert_eq!(a.len(), 32);
        assert!(!a.contains("AKIA1"));
    }

    #[test]
    fn different_sources_differ() {
        let base = fp(&[("HOME", "/nonexistent")]);
        let variants = [
            fp(&[("AWS_ACCESS_KEY_ID", "AKIA1"), ("HOME", "/nonexistent")]),
            fp(&[("AWS_ACCESS_KEY_ID", "AKIA2"), ("HOME", "/nonexistent")]),
            fp(&[("AWS_PROFILE", "dev"), ("HOME", "/nonexistent")]),
            fp(&[
                ("AWS_ROLE_ARN", "arn:aws:iam::1:role/x"),
                ("HOME", "/nonexistent"),
            ]),
            fp(&[
                ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/x"),
                ("HOME", "/nonexistent"),
            ]),
        ];
        for (i, v) in variants.iter().enumerate() {
            assert_ne!(&base, v, "variant {i}");
            for (j, w) in variants.iter().enumerate().skip(i + 1) {
                assert_ne!(v, w, "variants {i} and {j}");
            }
        }
    }

    #[test]
    fn extra_mapping_changes_fingerprint() {
        let none = fingerprint_with(&|_| None, &[]);
        let role = fingerprint_with(&|_| None, &[("role_arn", "arn:aws:iam::1:role/a")]);
        assert_ne!(none, role);
    }

    const CONFIG: &str = "\
[default]
region = us-east-1

[profile dev]
role_arn = arn:aws:iam::111111111111:role/dev
source_profile = base
# a comment

[profile base]
sso_session = corp

[sso-session corp]
sso_start_url = https://corp.awsapps.com/start

[profile other]
region = eu-west-1
";

    #[test]
    fn follows_source_profile_and_sso_session() {
        let lines = profile_lines(
            Some(CONFIG),
            Some("[base]\naws_access_key_id = AKIAB\n"),
            "dev",
        );
        let text: Vec<String> = lines.iter().map(|(k, l)| format!("{k}:{l}")).collect();
        assert!(text.contains(&"config:role_arn = arn:aws:iam::111111111111:role/dev".to_string()));
        assert!(text.contains(&"config:sso_session = corp".to_string()));
        assert!(
            text.contains(
                &"sso-session:sso_start_url = https://corp.awsapps.com/start".to_string()
            )
        );
        assert!(text.contains(&"credentials:aws_access_key_id = AKIAB".to_string()));
        assert!(
            !text.iter().any(|l| l.contains("eu-west-1")),
            "other profiles are not part of it"
        );
    }

    #[test]
    fn unrelated_profile_edits_keep_the_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        let env = |path: &Path| {
            let path = path.display().to_string();
            move |n: &str| match n {
                "AWS_CONFIG_FILE" => Some(path.clone()),
                "AWS_PROFILE" => Some("dev".to_string()),
                _ => None,
            }
        };
        std::fs::write(&config, CONFIG).unwrap();
        let before = fingerprint_with(&env(&config), &[]);
        std::fs::write(&config, CONFIG.replace("eu-west-1", "eu-west-2")).unwrap();
        assert_eq!(before, fingerprint_with(&env(&config), &[]));
        std::fs::write(&config, CONFIG.replace("role/dev", "role/admin")).unwrap();
        assert_ne!(before, fingerprint_with(&env(&config), &[]));
        std::fs::write(&config, CONFIG.replace("corp.awsapps", "other.awsapps")).unwrap();
        assert_ne!(before, fingerprint_with(&env(&config), &[]));
    }

    #[test]
    fn source_profile_loop_ends() {
        let config = "[profile a]\nsource_profile = b\n[profile b]\nsource_profile = a\n";
        assert_eq!(profile_lines(Some(config), None, "a").len(), 2);
    }
}
