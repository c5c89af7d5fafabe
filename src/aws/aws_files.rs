//! The AWS shared config and credentials files, found, read and parsed as the SDK does, at most
//! once per call, and on a cache hit not at all.
//!
//! The cache key must describe exactly what the SDK will resolve. So the files are located with
//! the SDK's rules (`AWS_CONFIG_FILE`, `AWS_SHARED_CREDENTIALS_FILE`, a leading `~`, an empty
//! variable meaning "no file"), parsed with the SDK's own parser, keyed from that parsed view,
//! and on a miss the very same bytes are handed to the SDK: an edit between keying and
//! resolving cannot put one identity's token under another's key.
//!
//! Parsing costs about 4 us per profile, and organisations with an SSO profile per account
//! have thousands. So the key also names each file's stat state, and what the parse gave for
//! a profile is remembered per state ([`crate::aws::memo`]): a hit whose files are in a known,
//! safely old state opens them (one `open` and `fstat` each) and reads nothing.

use crate::aws::memo::{Material, Memo, racily_clean};
use crate::cache::key::KeyHasher;
use crate::util::files::{self, FileState, Trust};
use crate::util::log::{debug, warning};
use crate::util::settings::Settings;
use aws_config::profile::ProfileSet;
use aws_runtime::env_config::file::{
    EnvConfigFileKind as ProfileFileKind, EnvConfigFiles as ProfileFiles,
};
use aws_runtime::env_config::property::PropertiesKey;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The most we read of one file. Far larger than any real file (tools that write one SSO
/// profile per account make files of a few MiB), small enough not to exhaust memory.
pub(crate) const MAX_FILE: u64 = 64 << 20;
/// Above this, parsing on every cache hit would cost more than the hit itself: such a call
/// runs without the cache (and says so) rather than key on a partial view.
pub(crate) const MAX_KEYED: u64 = 16 << 20;

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

/// The services whose endpoints a `[services]` section can move, as the SDK names them there:
/// the service id in lower case, spaces as hyphens (`ECR PUBLIC` is `ecr-public`).
const SERVICES: &[&str] = &["ecr", "ecr-public", "sts", "sso", "sso-oidc", "signin"];

/// Why a profile is the one in effect (for `doctor` and debug lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProfileChoice {
    AwsProfile,
    /// `AWS_DEFAULT_PROFILE`, as the AWS CLI and the Go SDK read it when `AWS_PROFILE` is unset.
    AwsDefaultProfile,
    Default,
    RegistryConfig,
}

impl ProfileChoice {
    pub(crate) fn describe(self) -> &'static str {
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
pub(crate) fn selected_profile(settings: &Settings) -> (String, ProfileChoice) {
    if let Some(p) = settings.get("AWS_PROFILE") {
        return (p.to_string(), ProfileChoice::AwsProfile);
    }
    if let Some(p) = settings.nonempty("AWS_DEFAULT_PROFILE") {
        return (p.to_string(), ProfileChoice::AwsDefaultProfile);
    }
    ("default".to_string(), ProfileChoice::Default)
}

/// One of the two files, read.
#[derive(Debug, Clone)]
pub(crate) struct SharedFile {
    pub path: PathBuf,
    /// What the SDK will see: `None` when there is no file, empty when it is not UTF-8 (the SDK
    /// reads such a file as empty too).
    pub contents: Option<String>,
}

/// How one file was found.
#[derive(Debug)]
enum Source {
    /// The variable is set and empty: no file.
    NoFile,
    Missing,
    /// A regular file, held open from its stat to its read, so that the bytes read are that
    /// inode's whatever is renamed over the path meanwhile.
    Open(File, FileState),
    /// Anything else (a device, a FIFO), read at once by path: no stat state to key by.
    Read(SharedFile),
}

/// One of the two files, found and not necessarily read.
#[derive(Debug)]
pub(crate) struct Located {
    pub path: PathBuf,
    source: Source,
}

impl Located {
    /// This file's part of the key: its state, never its contents (those enter the material).
    fn state(&self) -> String {
        match &self.source {
            Source::NoFile => "none".into(),
            Source::Missing => "missing".into(),
            Source::Open(_, s) => s.to_string(),
            Source::Read(_) => "read".into(),
        }
    }

    /// The newest timestamp when the state can be memoized (it says whether the contents
    /// changed); `None` when it cannot.
    fn memo_newest(&self) -> Option<f64> {
        match &self.source {
            Source::NoFile | Source::Missing => Some(f64::MIN),
            Source::Open(_, s) => Some(s.newest()),
            Source::Read(_) => None,
        }
    }
}

/// Both files' contents, parsed.
struct Loaded {
    config: SharedFile,
    credentials: SharedFile,
    /// `Err` with the parser's message when the files do not parse; the SDK fails the same way.
    profiles: Result<ProfileSet, String>,
    /// Files that could not be read through the descriptor opened at the start (an I/O error):
    /// the SDK is handed their paths, to fail reading them as it would on its own.
    unreadable: Vec<PathBuf>,
    /// Every file read has the stat it was opened with, before and after the read.
    stable: bool,
}

impl std::fmt::Debug for Loaded {
    /// Paths only: the contents hold secret keys.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaded")
            .field("config", &self.config.path)
            .field("credentials", &self.credentials.path)
            .field("parses", &self.profiles.is_ok())
            .finish()
    }
}

/// Both files, found; read and parsed only when something needs their contents. A cache hit
/// whose key material is in the memo ([`crate::aws::memo`]) never reads them.
#[derive(Debug)]
pub(crate) struct AwsFiles {
    pub config: Located,
    pub credentials: Located,
    loaded: OnceLock<Loaded>,
    memo: Option<Memo>,
    /// Unix seconds before the files were opened: how old a memo record made now is.
    opened_at: f64,
    /// Some file was too large to key (see [`MAX_KEYED`]).
    pub too_large_to_key: bool,
}

impl AwsFiles {
    /// Finds, reads and parses both files now, without a memo.
    #[cfg(test)]
    pub(crate) fn load(settings: &Settings) -> Result<AwsFiles, files::FileError> {
        let files = AwsFiles::open(settings, None)?;
        files.loaded();
        Ok(files)
    }

    /// Finds both files and opens them, remembering key material in `memo_dir` (the cache's
    /// directory). A FIFO, a device or a file over [`MAX_FILE`] is an error, as the SDK would
    /// hang or read without end; a file that cannot be opened is an error too.
    pub(crate) fn open(
        settings: &Settings,
        memo_dir: Option<&Path>,
    ) -> Result<AwsFiles, files::FileError> {
        let opened_at = crate::cache::now();
        let config = locate_and_open(settings, "AWS_CONFIG_FILE", "~/.aws/config")?;
        let credentials = locate_and_open(
            settings,
            "AWS_SHARED_CREDENTIALS_FILE",
            "~/.aws/credentials",
        )?;
        let too_large_to_key = [&config, &credentials].iter().any(|f| match &f.source {
            Source::Open(_, stat) => stat.size > MAX_KEYED,
            Source::Read(read) => read
                .contents
                .as_ref()
                .is_some_and(|c| c.len() as u64 > MAX_KEYED),
            Source::NoFile | Source::Missing => false,
        });
        Ok(AwsFiles {
            config,
            credentials,
            loaded: OnceLock::new(),
            memo: memo_dir.map(Memo::in_dir),
            opened_at,
            too_large_to_key,
        })
    }

    /// The same contents, for the SDK's loader: it then reads no file of its own (but one that
    /// could not be read, which it then fails on as it would).
    pub(crate) fn profile_files(&self) -> ProfileFiles {
        let loaded = self.loaded();
        let mut builder = ProfileFiles::builder();
        for (kind, file) in [
            (ProfileFileKind::Config, &loaded.config),
            (ProfileFileKind::Credentials, &loaded.credentials),
        ] {
            builder = if loaded.unreadable.contains(&file.path) {
                builder.with_file(kind, &file.path)
            } else {
                builder.with_contents(kind, file.contents.clone().unwrap_or_default())
            };
        }
        builder.build()
    }

    /// Every profile, as the SDK parses them; `Err` with the parser's message.
    pub(crate) fn profiles(&self) -> &Result<ProfileSet, String> {
        &self.loaded().profiles
    }

    /// A setting of a profile, as the SDK reads it.
    pub(crate) fn setting(&self, profile: &str, key: &str) -> Option<&str> {
        self.profiles()
            .as_ref()
            .ok()?
            .get_profile(profile)?
            .get(key)
    }

    /// Feeds both files' states, and what `profile` reaches in them (its `source_profile`
    /// chain, `sso_session`, `services`), into the key, then the `credential_process` commands
    /// it reaches with their executables and variables as they are now. The material comes from
    /// the memo when the files' states are there and safely old; otherwise from the files,
    /// read and parsed, and it is remembered.
    ///
    /// A key made from the memo names the states it was made for: should a miss then read
    /// contents that changed since (the SDK gets the bytes read then), the token fetched with
    /// them is stored under states that no later call can see again (a new ctime or inode).
    pub(crate) fn feed_profile(&self, settings: &Settings, profile: &str, key: &mut KeyHasher) {
        key.feed("config-state", &self.config.state());
        key.feed("credentials-state", &self.credentials.state());
        let material = match self.memoized(profile) {
            Some(material) => material.clone(),
            None => self.material_from_files(profile),
        };
        key.feed("profile-material", &material.digest);
        for command in &material.commands {
            crate::cache::key::feed_command(settings, command, key);
        }
    }

    /// `profile`'s material from the memo, when the files are not read yet (a call that read
    /// them keys from what it read) and their states can be trusted.
    fn memoized(&self, profile: &str) -> Option<&Material> {
        let memo = self.memo.as_ref()?;
        if self.loaded.get().is_some() || self.too_large_to_key {
            return None;
        }
        let newest = self.memo_newest()?;
        let material = memo.find(&self.memo_id(profile), newest)?;
        debug!("the AWS config files' key material from the memo: not read");
        Some(material)
    }

    /// Reads and parses the files (when not done yet), derives `profile`'s material, and
    /// remembers it when the files were stable while read and safely older than the read.
    fn material_from_files(&self, profile: &str) -> Material {
        let loaded = self.loaded();
        let material = material(loaded, profile);
        if let (Some(memo), Some(newest)) = (&self.memo, self.memo_newest())
            && loaded.stable
            && !self.too_large_to_key
            && !racily_clean(newest, self.opened_at)
        {
            memo.remember(self.memo_id(profile), self.opened_at, material.clone());
        }
        material
    }

    /// The newest timestamp of the files when their states can be memoized, and there is a
    /// file to read at all (without one the material costs nothing to derive).
    fn memo_newest(&self) -> Option<f64> {
        let open = |f: &Located| matches!(f.source, Source::Open(..));
        if !open(&self.config) && !open(&self.credentials) {
            return None;
        }
        Some(
            self.config
                .memo_newest()?
                .max(self.credentials.memo_newest()?),
        )
    }

    /// What a memo record is found by: everything the material depends on but the contents,
    /// which the states stand for.
    fn memo_id(&self, profile: &str) -> String {
        let mut id = KeyHasher::new();
        id.feed("memo-of", env!("CARGO_PKG_VERSION"));
        for f in [&self.config, &self.credentials] {
            id.feed("path", &f.path.display().to_string());
            id.feed("state", &f.state());
        }
        id.feed("profile", profile);
        id.finish()
    }

    fn loaded(&self) -> &Loaded {
        self.loaded.get_or_init(|| {
            let (config, config_ok) = read_located(&self.config);
            let (credentials, credentials_ok) = read_located(&self.credentials);
            let unreadable = [(&config, config_ok), (&credentials, credentials_ok)]
                .iter()
                .filter(|(_, ok)| ok.is_none())
                .map(|(f, _)| f.path.clone())
                .collect();
            let profiles = if self.too_large_to_key {
                Err("too large to key".to_string())
            } else {
                parse(&config, &credentials)
            };
            Loaded {
                stable: config_ok == Some(true) && credentials_ok == Some(true),
                config,
                credentials,
                profiles,
                unreadable,
            }
        })
    }

    #[cfg(test)]
    fn in_memory(config: &str, credentials: &str) -> AwsFiles {
        let file = |path: &str, text: &str| Located {
            path: path.into(),
            source: Source::Read(SharedFile {
                path: path.into(),
                contents: Some(text.into()),
            }),
        };
        AwsFiles {
            config: file("/c", config),
            credentials: file("/k", credentials),
            loaded: OnceLock::new(),
            memo: None,
            opened_at: 0.0,
            too_large_to_key: false,
        }
    }
}

/// Everything `profile` reaches in the parsed files, hashed, and the commands it runs.
fn material(loaded: &Loaded, profile: &str) -> Material {
    let mut key = KeyHasher::new();
    let mut commands = Vec::new();
    for path in &loaded.unreadable {
        key.feed("unreadable", &path.display().to_string());
    }
    let set = match &loaded.profiles {
        Ok(set) => set,
        Err(_) => {
            // Unparsable files fail in the SDK too; any edit changes the key.
            for f in [&loaded.config, &loaded.credentials] {
                key.feed("file", f.contents.as_deref().unwrap_or("\0missing"));
            }
            return Material {
                digest: key.finish(),
                commands,
            };
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
        feed_profile_settings(&mut key, set, p);
        if let Some(command) = p.get("credential_process") {
            commands.push(command.to_string());
        }
        next = p.get("source_profile");
    }
    Material {
        digest: key.finish(),
        commands,
    }
}

/// One profile's settings that decide its credentials and endpoints into `key`: its own
/// keys, its `sso-session` section's, and its `services` section's ECR endpoint URLs.
fn feed_profile_settings(key: &mut KeyHasher, set: &ProfileSet, p: &aws_config::profile::Profile) {
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
}

/// One file, found as the SDK finds it, and whether a variable named it. A variable names its
/// file, relative paths included (the SDK reads those from the working directory too); an
/// empty one names none. The default under the home is used only when there is a home to put
/// it under: a relative `~/.aws/config` would read whatever the working directory holds (a
/// checkout with a directory named `~`) and run its `credential_process`.
fn locate(settings: &Settings, var: &str, default: &str) -> (PathBuf, bool) {
    match settings.get(var) {
        Some(value) => (settings.expand_home(value), true),
        None => (settings.expand_home(default), false),
    }
}

/// Whether a located path names no file to read: empty, or a default left relative.
fn names_no_file(path: &Path, named: bool) -> bool {
    path.as_os_str().is_empty() || (!named && !path.is_absolute())
}

/// Opens a regular file for a later read (one `open` and one `fstat` on a hit); reads anything
/// else by path at once, which reports what it is.
fn locate_and_open(
    settings: &Settings,
    var: &str,
    default: &str,
) -> Result<Located, files::FileError> {
    let (path, named) = locate(settings, var, default);
    if names_no_file(&path, named) {
        return Ok(Located {
            path,
            source: Source::NoFile,
        });
    }
    let opened = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&path)
        .and_then(|f| f.metadata().map(|m| (f, m)));
    let source = match opened {
        Ok((file, meta)) if meta.is_file() => {
            if meta.len() > MAX_FILE {
                return Err(files::FileError::TooLarge {
                    path,
                    max: MAX_FILE,
                });
            }
            Source::Open(file, FileState::of(&meta))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Source::Missing,
        // Not a regular file, or not openable: the reader says what is wrong, or reads it.
        _ => Source::Read(read(settings, var, default)?),
    };
    Ok(Located { path, source })
}

/// The contents of a located file, and whether they were read through its descriptor with
/// the stat it was opened with unchanged (`Some(false)`: changed meanwhile; `None`: the read
/// failed, and the SDK is to be handed the path).
fn read_located(located: &Located) -> (SharedFile, Option<bool>) {
    let path = located.path.clone();
    let (file, stat) = match &located.source {
        Source::NoFile | Source::Missing => {
            return (
                SharedFile {
                    path,
                    contents: None,
                },
                Some(true),
            );
        }
        Source::Read(read) => return (read.clone(), Some(false)),
        Source::Open(file, stat) => (file, stat),
    };
    let mut bytes = Vec::with_capacity(stat.size as usize);
    let read = file
        .take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .and_then(|_| file.metadata());
    match read {
        Ok(after) if bytes.len() as u64 <= MAX_FILE => {
            let stable = FileState::of(&after) == *stat;
            let contents = Some(text(&path, bytes));
            (SharedFile { path, contents }, Some(stable))
        }
        Ok(_) => {
            warning!(
                "{} grew over {MAX_FILE} bytes while it was read; the AWS SDK reads it itself",
                path.display()
            );
            (
                SharedFile {
                    path,
                    contents: None,
                },
                None,
            )
        }
        Err(e) => {
            warning!(
                "cannot read {}: {e}; the AWS SDK reads it itself",
                path.display()
            );
            (
                SharedFile {
                    path,
                    contents: None,
                },
                None,
            )
        }
    }
}

/// The file's text as the SDK reads it: a file that is not UTF-8 reads as empty.
fn text(path: &Path, bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|_| {
        warning!(
            "{} is not UTF-8; the AWS SDK reads it as empty",
            path.display()
        );
        String::new()
    })
}

fn read(settings: &Settings, var: &str, default: &str) -> Result<SharedFile, files::FileError> {
    let (path, named) = locate(settings, var, default);
    if names_no_file(&path, named) {
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
        Some(Err(e)) => Err(crate::aws::sdk_errors::error_chain(&e)),
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
        AwsFiles::in_memory(config, creds)
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
    fn a_services_endpoint_keys_the_profile() {
        // The SDK names a service in `[services]` by its id in lower case with spaces as
        // hyphens: `ecr-public`, `sso-oidc` (not underscores).
        let with = |service: &str, url: &str| {
            format!(
                "[profile dev]\nservices = corp\n[services corp]\n{service} =\n  endpoint_url = {url}\n"
            )
        };
        for service in ["ecr", "ecr-public", "sts", "sso", "sso-oidc", "signin"] {
            let a = key(&files(&with(service, "https://a.example"), ""), "dev");
            let b = key(&files(&with(service, "https://b.example"), ""), "dev");
            assert_ne!(a, b, "{service}'s endpoint does not key the cache");
        }
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
