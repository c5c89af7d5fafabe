//! The AWS shared config and credentials files, found, read and parsed as the SDK does, once
//! per call.
//!
//! The cache key must describe exactly what the SDK will resolve. So the files are located with
//! the SDK's rules (`AWS_CONFIG_FILE`, `AWS_SHARED_CREDENTIALS_FILE`, a leading `~`, an empty
//! variable meaning "no file"), parsed with the SDK's own parser, keyed from that parsed view,
//! and on a miss the very same bytes are handed to the SDK: an edit between keying and
//! resolving cannot put one identity's token under another's key.

use crate::files::{self, Trust};
use crate::key::KeyHasher;
use crate::log::warning;
use crate::settings::Settings;
use aws_config::profile::ProfileSet;
use aws_runtime::env_config::file::{
    EnvConfigFileKind as ProfileFileKind, EnvConfigFiles as ProfileFiles,
};
use aws_runtime::env_config::property::PropertiesKey;
use std::path::PathBuf;

/// The most we read of one file. Far larger than any real file (tools that write one SSO
/// profile per account make files of a few MiB), small enough not to exhaust memory.
pub const MAX_FILE: u64 = 64 << 20;
/// Above this, parsing on every cache hit would cost more than the hit itself: such a call
/// runs without the cache (and says so) rather than key on a partial view.
pub const MAX_KEYED: u64 = 16 << 20;

/// Every profile setting the SDK's credential, region and endpoint providers read. A setting
/// missing here would let two profiles that resolve differently share a key: the oracle test
/// (tests/it/identity_oracle.rs) is there to catch that.
const PROFILE_KEYS: &[&str] = &[
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "aws_account_id",
    "role_arn",
    "source_profile",
    "credential_source",
    "role_session_name",
    "external_id",
    "duration_seconds",
    "mfa_serial",
    "web_identity_token_file",
    "credential_process",
    "sso_session",
    "sso_start_url",
    "sso_region",
    "sso_account_id",
    "sso_role_name",
    "sso_registration_scopes",
    "login_session",
    "region",
    "endpoint_url",
    "services",
    "ignore_configured_endpoint_urls",
    "use_fips_endpoint",
    "use_dualstack_endpoint",
    "sts_regional_endpoints",
    "ec2_metadata_service_endpoint",
    "ec2_metadata_service_endpoint_mode",
    "ec2_metadata_v1_disabled",
    "account_id_endpoint_mode",
    "ca_bundle",
];

/// Settings of an `[sso-session]` section.
const SSO_SESSION_KEYS: &[&str] = &["sso_start_url", "sso_region", "sso_registration_scopes"];

/// The services whose endpoints a `[services]` section can move, as the SDK names them there.
const SERVICES: &[&str] = &["ecr", "ecr_public", "sts", "sso", "sso_oidc", "signin"];

/// Why a profile is the one in effect (for `doctor` and debug lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileChoice {
    AwsProfile,
    /// `AWS_DEFAULT_PROFILE`, as the AWS CLI and the Go SDK read it when `AWS_PROFILE` is unset.
    AwsDefaultProfile,
    Default,
    RegistryConfig,
}

impl ProfileChoice {
    pub fn describe(self) -> &'static str {
        match self {
            ProfileChoice::AwsProfile => "AWS_PROFILE",
            ProfileChoice::AwsDefaultProfile => "AWS_DEFAULT_PROFILE",
            ProfileChoice::Default => "the default profile",
            ProfileChoice::RegistryConfig => "registry config",
        }
    }
}

/// The profile the environment selects. `AWS_PROFILE=` (set, empty) selects the profile named
/// `""`, as the Rust SDK reads it: no such profile exists, so the chain goes on to container and
/// instance credentials.
pub fn selected_profile(settings: &Settings) -> (String, ProfileChoice) {
    if let Some(p) = settings.get("AWS_PROFILE") {
        return (p.to_string(), ProfileChoice::AwsProfile);
    }
    if let Some(p) = settings.nonempty("AWS_DEFAULT_PROFILE") {
        return (p.to_string(), ProfileChoice::AwsDefaultProfile);
    }
    ("default".to_string(), ProfileChoice::Default)
}

/// One of the two files.
#[derive(Debug, Clone)]
pub struct SharedFile {
    pub path: PathBuf,
    /// What the SDK will see: `None` when there is no file, empty when it is not UTF-8 (the SDK
    /// reads such a file as empty too).
    pub contents: Option<String>,
}

/// Both files, read and parsed.
#[derive(Debug, Clone)]
pub struct AwsFiles {
    pub config: SharedFile,
    pub credentials: SharedFile,
    /// `Err` with the parser's message when the files do not parse; the SDK fails the same way.
    pub profiles: Result<ProfileSet, String>,
    /// Some file was too large to key (see [`MAX_KEYED`]).
    pub too_large_to_key: bool,
}

impl AwsFiles {
    /// Finds and reads both files. A FIFO, a device or a file over [`MAX_FILE`] is an error:
    /// the SDK would hang or read without end.
    pub fn load(settings: &Settings) -> Result<AwsFiles, files::FileError> {
        let config = read(settings, "AWS_CONFIG_FILE", "~/.aws/config")?;
        let credentials = read(
            settings,
            "AWS_SHARED_CREDENTIALS_FILE",
            "~/.aws/credentials",
        )?;
        let too_large_to_key = [&config, &credentials].iter().any(|f| {
            f.contents
                .as_ref()
                .is_some_and(|c| c.len() as u64 > MAX_KEYED)
        });
        let profiles = if too_large_to_key {
            Err("too large to key".to_string())
        } else {
            parse(&config, &credentials)
        };
        Ok(AwsFiles {
            config,
            credentials,
            profiles,
            too_large_to_key,
        })
    }

    /// The same contents, for the SDK's loader: it then reads no file of its own.
    pub fn profile_files(&self) -> ProfileFiles {
        ProfileFiles::builder()
            .with_contents(
                ProfileFileKind::Config,
                self.config.contents.clone().unwrap_or_default(),
            )
            .with_contents(
                ProfileFileKind::Credentials,
                self.credentials.contents.clone().unwrap_or_default(),
            )
            .build()
    }

    /// A setting of a profile, as the SDK reads it.
    pub fn setting(&self, profile: &str, key: &str) -> Option<&str> {
        self.profiles.as_ref().ok()?.get_profile(profile)?.get(key)
    }

    /// Feeds `profile` and everything it reaches (its `source_profile` chain, `sso_session`,
    /// `services`, a `credential_process` executable) into the key.
    pub fn feed_profile(&self, settings: &Settings, profile: &str, key: &mut KeyHasher) {
        let set = match &self.profiles {
            Ok(set) => set,
            Err(_) => {
                // Unparsable files fail in the SDK too; any edit changes the key.
                for f in [&self.config, &self.credentials] {
                    key.feed("file", f.contents.as_deref().unwrap_or("\0missing"));
                }
                return;
            }
        };
        let mut visited: Vec<&str> = Vec::new();
        let mut next = Some(profile);
        while let Some(name) = next.take() {
            if visited.contains(&name) || visited.len() > 32 {
                key.feed("profile-cycle", name);
                break;
            }
            visited.push(name);
            let Some(p) = set.get_profile(name) else {
                key.feed("profile-missing", name);
                break;
            };
            key.feed("profile", name);
            for k in PROFILE_KEYS {
                if let Some(v) = p.get(k) {
                    key.feed(k, v);
                }
            }
            if let Some(session) = p.get("sso_session").and_then(|s| set.sso_session(s)) {
                for k in SSO_SESSION_KEYS {
                    if let Some(v) = session.get(k) {
                        key.feed(k, v);
                    }
                }
            }
            if let Some(services) = p.get("services") {
                for service in SERVICES {
                    let property = PropertiesKey::builder()
                        .section_key("services")
                        .section_name(services)
                        .property_name(*service)
                        .sub_property_name("endpoint_url")
                        .build();
                    if let Some(v) = property.ok().and_then(|k| set.other_sections().get(&k)) {
                        key.feed(service, &v.to_string());
                    }
                }
            }
            if let Some(command) = p.get("credential_process") {
                crate::key::feed_command(settings, command, key);
            }
            next = p.get("source_profile");
        }
    }
}

/// One file, found as the SDK finds it. A variable names its file, relative paths included
/// (the SDK reads those from the working directory too); an empty one names none. The default
/// under the home is read only when there is a home to put it under: a relative `~/.aws/config`
/// would read whatever the working directory holds (a checkout with a directory named `~`) and
/// run its `credential_process`.
fn read(settings: &Settings, var: &str, default: &str) -> Result<SharedFile, files::FileError> {
    let (path, named) = match settings.get(var) {
        Some(value) => (settings.expand_home(value), true),
        None => (settings.expand_home(default), false),
    };
    if path.as_os_str().is_empty() || (!named && !path.is_absolute()) {
        return Ok(SharedFile {
            path,
            contents: None,
        });
    }
    let bytes = files::read(&path, MAX_FILE, Trust::Any).map_err(|e| match named {
        true => e.named(var),
        false => e,
    })?;
    let contents = bytes.map(|b| {
        String::from_utf8(b).unwrap_or_else(|_| {
            warning!(
                "{} is not UTF-8; the AWS SDK reads it as empty",
                path.display()
            );
            String::new()
        })
    });
    Ok(SharedFile { path, contents })
}

fn parse(config: &SharedFile, credentials: &SharedFile) -> Result<ProfileSet, String> {
    use aws_types::os_shim_internal::{Env, Fs};
    // No files (keys in the environment, a role on the machine): nothing to parse.
    let blank = |f: &SharedFile| f.contents.as_deref().is_none_or(|c| c.trim().is_empty());
    if blank(config) && blank(credentials) {
        return Ok(ProfileSet::default());
    }
    let files = ProfileFiles::builder()
        .with_contents(
            ProfileFileKind::Config,
            config.contents.clone().unwrap_or_default(),
        )
        .with_contents(
            ProfileFileKind::Credentials,
            credentials.contents.clone().unwrap_or_default(),
        )
        .build();
    let env = Env::from_slice(&[]);
    let fs = Fs::from_slice(&[]);
    // With the contents in memory the loader never awaits anything: one poll finishes it, and
    // the hit path needs no async runtime.
    let future = aws_config::profile::load(&fs, &env, &files, None);
    match now_or_never(future) {
        Some(Ok(set)) => Ok(set),
        Some(Err(e)) => Err(crate::fetch::error_chain(&e)),
        None => Err("the profile parser did not finish".to_string()),
    }
}

/// Polls a future once.
fn now_or_never<F: std::future::Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(config: &str, creds: &str) -> AwsFiles {
        let config = SharedFile {
            path: "/c".into(),
            contents: Some(config.into()),
        };
        let credentials = SharedFile {
            path: "/k".into(),
            contents: Some(creds.into()),
        };
        let profiles = parse(&config, &credentials);
        AwsFiles {
            config,
            credentials,
            profiles,
            too_large_to_key: false,
        }
    }

    fn key(f: &AwsFiles, profile: &str) -> String {
        let settings = Settings::for_test(&[]);
        let mut k = KeyHasher::new();
        f.feed_profile(&settings, profile, &mut k);
        k.finish()
    }

    #[test]
    fn reads_headers_as_the_sdk_does() {
        let f = files(
            "[profile\tdev]\nregion = eu-west-1\n",
            "[default] # work account\naws_access_key_id = AKIA1\n",
        );
        assert_eq!(f.setting("dev", "region"), Some("eu-west-1"));
        assert_eq!(f.setting("default", "aws_access_key_id"), Some("AKIA1"));
    }

    #[test]
    fn keys_follow_the_chain_and_ignore_the_rest() {
        let base = "[profile dev]\nrole_arn = arn:aws:iam::111111111111:role/Developer\nsource_profile = base\n[profile base]\nsso_session = corp\n[sso-session corp]\nsso_start_url = https://a/start\n[profile other]\nregion = eu-west-1\n";
        let k = key(&files(base, ""), "dev");
        assert_eq!(
            k,
            key(&files(&base.replace("eu-west-1", "eu-west-2"), ""), "dev")
        );
        for changed in [
            base.replace("Developer", "Admin"),
            base.replace("https://a/start", "https://b/start"),
            base.replace("sso_session = corp", "sso_session = corp\nregion = x"),
        ] {
            assert_ne!(k, key(&files(&changed, ""), "dev"), "{changed}");
        }
        assert_ne!(
            k,
            key(&files(base, "[base]\naws_access_key_id = A\n"), "dev")
        );
    }

    #[test]
    fn source_profile_cycles_end() {
        let f = files(
            "[profile a]\nsource_profile = b\n[profile b]\nsource_profile = a\n",
            "",
        );
        assert_eq!(key(&f, "a").len(), 32);
    }

    /// The SDK's profile parser sees whatever the files hold, on every call: no input may make
    /// it panic (the release build aborts), only fail.
    #[test]
    fn the_parser_takes_any_text() {
        use proptest::prelude::*;
        let pieces = prop::collection::vec(
            prop::sample::select(vec![
                "[",
                "]",
                "[default]",
                "[profile ",
                "[sso-session ",
                "[services ",
                "profile",
                " ",
                "\t",
                "=",
                " = ",
                "\n",
                "\r\n",
                "#",
                ";",
                "a",
                "x",
                "region",
                "source_profile",
                "sso_session",
                "services",
                "ecr =",
                "  endpoint_url = http://h",
                "\0",
                "é",
                "\u{feff}",
                "\\",
                "\"",
                "role_arn",
                "[profile a]",
                "[profile a",
                "a]",
                "==",
                "  ",
            ]),
            0..40,
        );
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
            cases: 2000,
            ..ProptestConfig::default()
        });
        runner
            .run(&(pieces.clone(), pieces), |(config, credentials)| {
                let f = files(&config.concat(), &credentials.concat());
                // The key walks what the parser built, as every `get` does.
                let _ = key(&f, "a");
                let _ = key(&f, "default");
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn a_relative_default_is_never_read() {
        // Unit tests run in the package root, where `Cargo.toml` exists: a relative default
        // that names it must still not be read, while a variable that names it is.
        assert!(std::path::Path::new("Cargo.toml").is_file());
        let s = Settings::for_test(&[]);
        let f = read(&s, "AWS_CONFIG_FILE", "Cargo.toml").unwrap();
        assert!(f.contents.is_none(), "a relative default was read");
        let f = read(&s, "AWS_CONFIG_FILE", "~/.aws/config").unwrap();
        assert!(f.contents.is_none());
        let s = Settings::for_test(&[("AWS_CONFIG_FILE", "Cargo.toml")]);
        let f = read(&s, "AWS_CONFIG_FILE", "~/.aws/config").unwrap();
        assert!(f.contents.is_some_and(|c| c.contains("[package]")));
        // An empty variable names no file.
        let s = Settings::for_test(&[("AWS_CONFIG_FILE", "")]);
        assert!(
            read(&s, "AWS_CONFIG_FILE", "Cargo.toml")
                .unwrap()
                .contents
                .is_none()
        );
        // With a home, the default is under it.
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".aws")).unwrap();
        std::fs::write(dir.path().join(".aws/config"), "[default]\n").unwrap();
        let s = Settings::for_test(&[("HOME", dir.path().to_str().unwrap())]);
        let f = read(&s, "AWS_CONFIG_FILE", "~/.aws/config").unwrap();
        assert_eq!(f.path, dir.path().join(".aws/config"));
        assert_eq!(f.contents.as_deref(), Some("[default]\n"));
    }

    #[test]
    fn errors_name_the_variable_that_named_the_file() {
        let s = Settings::for_test(&[("AWS_SHARED_CREDENTIALS_FILE", "/dev/zero")]);
        let e = read(&s, "AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("AWS_SHARED_CREDENTIALS_FILE=/dev/zero: not a regular file"),
            "{e}"
        );
        let s = Settings::for_test(&[("AWS_CONFIG_FILE", "/dev/null")]);
        let f = read(&s, "AWS_CONFIG_FILE", "~/.aws/config").unwrap();
        assert_eq!(f.contents.as_deref(), Some(""));
    }

    #[test]
    fn profile_choice() {
        let s = Settings::for_test(&[("AWS_DEFAULT_PROFILE", "dev")]);
        assert_eq!(selected_profile(&s).0, "dev");
        let s = Settings::for_test(&[("AWS_PROFILE", "prod"), ("AWS_DEFAULT_PROFILE", "dev")]);
        assert_eq!(selected_profile(&s).0, "prod");
        let s = Settings::for_test(&[("AWS_PROFILE", ""), ("AWS_DEFAULT_PROFILE", "dev")]);
        assert_eq!(selected_profile(&s).0, "");
        assert_eq!(selected_profile(&Settings::for_test(&[])).0, "default");
    }
}
