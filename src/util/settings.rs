//! The environment, read once at the edge.
//!
//! Every decision below the front ends (which profile, which cache directory, how long a call may
//! take, what the cache key holds) is made from this one value, so that what keys the cache and
//! what selects the credentials can never have read two different environments, and so that
//! tests can build any environment without touching the process's own.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a whole call may take unless `AWS_ECR_TIMEOUT` (seconds) says otherwise. Docker and
/// the kubelet wait on us; a pull must fail in bounded time rather than hang.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Every variable any part of the program looks at. Reading a fixed list (rather than the whole
/// environment) keeps the hit path to a few lookups and allocations. docs/environment.md
/// describes each, and the man page lists them; tests keep both in step with this list.
pub(crate) const NAMES: &[&str] = &[
    "HOME",
    "PATH",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ACCESS_KEY",
    "AWS_SECRET_KEY",
    "AWS_ACCOUNT_ID",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_ECR",
    "AWS_ENDPOINT_URL_ECR_PUBLIC",
    "AWS_ENDPOINT_URL_STS",
    "AWS_ENDPOINT_URL_SSO",
    "AWS_ENDPOINT_URL_SSO_OIDC",
    "AWS_ENDPOINT_URL_SIGNIN",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
    "AWS_EC2_METADATA_V1_DISABLED",
    "AWS_STS_REGIONAL_ENDPOINTS",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_CA_BUNDLE",
    "AWS_RETRY_MODE",
    "AWS_MAX_ATTEMPTS",
    "AWS_ECR_TIMEOUT",
    "AWS_ECR_REFRESH",
    "AWS_LOGIN_CACHE_DIRECTORY",
    "AWS_ECR_CACHE_DIR",
    "AWS_ECR_DISABLE_CACHE",
    "AWS_ECR_IGNORE_CREDS_STORAGE",
    "AWS_ECR_CONFIG",
    "AWS_ECR_LOG_LEVEL",
    "AWS_ECR_LOG_FILE",
    "AWS_ECR_ROLE_ARN",
    "DOCKER_CONFIG",
    "REGISTRY_AUTH_FILE",
    "XDG_RUNTIME_DIR",
    "XDG_CONFIG_HOME",
    "HELM_REGISTRY_CONFIG",
];

/// The environment of one call, and the one deadline every wait in it runs under.
#[derive(Clone)]
pub struct Settings {
    /// Set variables. A value that is not UTF-8 counts as unset.
    vars: Vec<(&'static str, Cow<'static, str>)>,
    /// Where variables outside [`NAMES`] come from (those a `credential_process` command line
    /// references): the process, or a fixed map in tests.
    others: Others,
    /// The home directory in the password database, looked up only for the process's own
    /// settings and only when `HOME` is unset or empty.
    passwd_home: Option<PathBuf>,
    pub timeout: Duration,
    pub deadline: Instant,
}

impl std::fmt::Debug for Settings {
    /// Names only: values include secret keys and tokens.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.vars.iter().map(|(k, _)| k))
            .finish()
    }
}

impl Settings {
    /// The process's environment; the deadline starts now.
    pub fn from_process() -> Settings {
        let mut s = Settings::from_vars(process_vars());
        s.others = Others::Process;
        if s.nonempty("HOME").is_none() {
            s.passwd_home = passwd_home();
        }
        s
    }

    /// Any environment, for tests and for callers that build one.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Settings {
        Settings::from_vars(
            NAMES
                .iter()
                .filter_map(|name| lookup(name).map(|v| (*name, Cow::Owned(v))))
                .collect(),
        )
    }

    fn from_vars(vars: Vec<(&'static str, Cow<'static, str>)>) -> Settings {
        let timeout = vars
            .iter()
            .find(|(k, _)| *k == "AWS_ECR_TIMEOUT")
            .and_then(|(_, v)| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0 && *s <= 3600.0)
            .map(Duration::from_secs_f64)
            .unwrap_or(DEFAULT_TIMEOUT);
        Settings {
            vars,
            others: Others::Map(Vec::new()),
            passwd_home: None,
            timeout,
            deadline: Instant::now() + timeout,
        }
    }

    /// The value of a set variable, even an empty one (`AWS_PROFILE=` means something).
    pub fn get(&self, name: &str) -> Option<&str> {
        debug_assert!(NAMES.contains(&name), "{name} is not in settings::NAMES");
        self.vars
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_ref())
    }

    /// Any other variable (one that a `credential_process` command line names).
    pub fn other(&self, name: &str) -> Option<String> {
        match &self.others {
            Others::Process => process_var(name),
            Others::Map(map) => map.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()),
        }
    }

    /// The value of a variable that is set and not empty.
    pub fn nonempty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// `true` in any case, as the SDKs read boolean variables.
    pub fn is_true(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }

    /// The home directory: `HOME` when set (used only when absolute), else, when `HOME` is unset
    /// or empty (systemd units, `env -i`, build sandboxes), the effective user's entry in the
    /// password database, as the Go helper and the AWS CLI find it. Without either there is no
    /// home, and so no default file under it: a relative `~` would read the working directory.
    /// Settings built by tests ([`Settings::from_lookup`]) never consult the database, so that
    /// no test can reach a real home.
    pub fn home(&self) -> Option<&Path> {
        match self.nonempty("HOME") {
            Some(home) => Some(Path::new(home)).filter(|h| h.is_absolute()),
            None => self.passwd_home.as_deref(),
        }
    }

    /// A path as the AWS SDKs and the Go helper read it: a leading `~` component is the home
    /// directory. Without a home it stays literal, and so names no file.
    pub fn expand_home(&self, path: &str) -> PathBuf {
        let rest = match path.strip_prefix('~') {
            Some("") => "",
            Some(rest) if rest.starts_with('/') => rest.trim_start_matches('/'),
            _ => return PathBuf::from(path),
        };
        match self.home() {
            Some(home) => home.join(rest),
            None => PathBuf::from(path),
        }
    }
}

/// The most buffer a password database entry may take: entries are a few hundred bytes, and a
/// broken NSS module asking for ever more must not take the process's memory.
const MAX_PASSWD_BUFFER: usize = 1 << 20;

/// The effective user's home directory in the password database (`getpwuid_r`, through NSS as
/// every libc program sees it); `None` when there is no entry, or it is empty or relative.
fn passwd_home() -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let uid = crate::util::files::euid();
    // SAFETY: sysconf has no preconditions; -1 (no limit known) is handled.
    let hint = unsafe { libc::sysconf(libc::_SC_GETPW_R_SIZE_MAX) };
    let mut size = usize::try_from(hint)
        .unwrap_or(0)
        .clamp(1024, MAX_PASSWD_BUFFER);
    loop {
        let mut buffer = vec![0 as libc::c_char; size];
        // SAFETY: `passwd` is plain data; all-zero is a valid (empty) value for it.
        let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call, and `buffer` is `size` bytes long.
        let rc =
            unsafe { libc::getpwuid_r(uid, &mut entry, buffer.as_mut_ptr(), size, &mut found) };
        if rc == libc::ERANGE && size < MAX_PASSWD_BUFFER {
            size = (size * 2).min(MAX_PASSWD_BUFFER);
            continue;
        }
        if rc != 0 || found.is_null() || entry.pw_dir.is_null() {
            return None;
        }
        // SAFETY: on success `pw_dir` points to a NUL-terminated string inside `buffer`, which
        // is alive here.
        let dir = unsafe { std::ffi::CStr::from_ptr(entry.pw_dir) };
        let dir = PathBuf::from(std::ffi::OsStr::from_bytes(dir.to_bytes()));
        return dir.is_absolute().then_some(dir);
    }
}

#[derive(Clone)]
enum Others {
    Process,
    Map(Vec<(String, String)>),
}

fn process_var(name: &str) -> Option<String> {
    std::env::var_os(name).and_then(|v| v.into_string().ok())
}

/// The variables of [`NAMES`] that are set, in one pass over the environment and without a
/// copy: this runs on every cache hit, where fifty `getenv`s and their allocations would cost
/// more than the rest of the lookup. The strings stay valid for the life of the process, which
/// never changes its own environment.
fn process_vars() -> Vec<(&'static str, Cow<'static, str>)> {
    unsafe extern "C" {
        static environ: *const *const libc::c_char;
    }
    let mut vars = Vec::with_capacity(16);
    // Names whose (first) value is not UTF-8: unset for us, and said so by `not_utf8`.
    let mut not_utf8: Vec<&'static str> = Vec::new();
    // SAFETY: `environ` is the process's NULL-terminated array of NUL-terminated strings; it
    // is read before any thread that could change it exists, and nothing here changes it.
    unsafe {
        let mut entry = environ;
        while !entry.is_null() && !(*entry).is_null() {
            let bytes = std::ffi::CStr::from_ptr(*entry).to_bytes();
            entry = entry.add(1);
            let Some(eq) = bytes.iter().position(|&b| b == b'=') else {
                continue;
            };
            let (name, value) = (&bytes[..eq], &bytes[eq + 1..]);
            let Some(known) = NAMES.iter().find(|n| n.as_bytes() == name) else {
                continue;
            };
            // The first of duplicate entries wins, as for getenv.
            if vars.iter().any(|(n, _)| n == known) || not_utf8.contains(known) {
                continue;
            }
            match std::str::from_utf8(value) {
                Ok(value) => {
                    // SAFETY: the environment outlives every use (see above).
                    let value: &'static str = &*(value as *const str);
                    vars.push((*known, Cow::Borrowed(value)));
                }
                Err(_) => not_utf8.push(known),
            }
        }
    }
    if !not_utf8.is_empty() {
        let _ = NOT_UTF8.set(not_utf8);
    }
    vars
}

/// The names [`process_vars`] found set to values that are not UTF-8.
static NOT_UTF8: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();

/// Our variables whose values in the process's environment are not UTF-8, and so count as
/// unset: the front end names them once, rather than ignore a setting silently.
pub(crate) fn not_utf8() -> &'static [&'static str] {
    NOT_UTF8.get().map_or(&[], Vec::as_slice)
}

#[cfg(test)]
impl Settings {
    pub fn with_other(mut self, name: &str, value: &str) -> Settings {
        if let Others::Map(map) = &mut self.others {
            map.push((name.to_string(), value.to_string()));
        }
        self
    }

    pub fn for_test(vars: &[(&str, &str)]) -> Settings {
        let map: std::collections::HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|n| map.get(n).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_unset_differ() {
        let s = Settings::for_test(&[("AWS_PROFILE", "")]);
        assert_eq!(s.get("AWS_PROFILE"), Some(""));
        assert_eq!(s.nonempty("AWS_PROFILE"), None);
        assert_eq!(s.get("AWS_DEFAULT_PROFILE"), None);
    }

    #[test]
    fn expands_a_leading_tilde_only() {
        let s = Settings::for_test(&[("HOME", "/home/u")]);
        assert_eq!(s.expand_home("~/cfg"), PathBuf::from("/home/u/cfg"));
        assert_eq!(s.expand_home("~"), PathBuf::from("/home/u"));
        assert_eq!(s.expand_home("~user/cfg"), PathBuf::from("~user/cfg"));
        assert_eq!(s.expand_home("/a/~/b"), PathBuf::from("/a/~/b"));
        let no_home = Settings::for_test(&[]);
        assert_eq!(no_home.expand_home("~/cfg"), PathBuf::from("~/cfg"));
    }

    #[test]
    fn home_from_the_environment_then_the_password_database() {
        let with = |vars: &[(&str, &str)]| Settings {
            passwd_home: Some(PathBuf::from("/pw/home")),
            ..Settings::for_test(vars)
        };
        assert_eq!(with(&[("HOME", "/h")]).home(), Some(Path::new("/h")));
        assert_eq!(with(&[("HOME", "")]).home(), Some(Path::new("/pw/home")));
        assert_eq!(with(&[]).home(), Some(Path::new("/pw/home")));
        assert_eq!(with(&[]).expand_home("~/x"), PathBuf::from("/pw/home/x"));
        // A relative HOME is no home; the database is for an unset or empty one.
        assert_eq!(with(&[("HOME", "rel")]).home(), None);
        // Test-built settings never look the database up.
        assert_eq!(Settings::for_test(&[]).home(), None);
    }

    #[test]
    fn the_password_database_names_our_home() {
        let uid = crate::util::files::euid();
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let listed = passwd.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.len() >= 7 && fields[2] == uid.to_string()).then(|| fields[5].to_string())
        });
        match listed {
            Some(dir) if dir.starts_with('/') => {
                assert_eq!(passwd_home(), Some(PathBuf::from(dir)))
            }
            _ => eprintln!("SKIPPED: uid {uid} has no absolute home in /etc/passwd"),
        }
    }

    #[test]
    fn timeouts() {
        assert_eq!(Settings::for_test(&[]).timeout, DEFAULT_TIMEOUT);
        let s = Settings::for_test(&[("AWS_ECR_TIMEOUT", "2.5")]);
        assert_eq!(s.timeout, Duration::from_millis(2500));
        for bad in ["0", "-1", "nan", "x", "99999"] {
            let s = Settings::for_test(&[("AWS_ECR_TIMEOUT", bad)]);
            assert_eq!(s.timeout, DEFAULT_TIMEOUT, "{bad}");
        }
    }

    /// The names in the first column of docs/environment.md's table.
    fn documented_names() -> Vec<&'static str> {
        include_str!("../../docs/environment.md")
            .lines()
            .filter_map(|line| line.strip_prefix("| `"))
            .filter_map(|rest| rest.split_once('`'))
            .map(|(name, _)| name)
            .collect()
    }

    #[test]
    fn the_environment_table_lists_exactly_the_names_read() {
        let documented = documented_names();
        let missing: Vec<_> = NAMES.iter().filter(|n| !documented.contains(n)).collect();
        assert!(
            missing.is_empty(),
            "read but not in docs/environment.md: {missing:?}"
        );
        let unknown: Vec<_> = documented.iter().filter(|n| !NAMES.contains(n)).collect();
        assert!(
            unknown.is_empty(),
            "in docs/environment.md but not in settings::NAMES: {unknown:?}"
        );
        let mut sorted = documented.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(
            sorted.len(),
            documented.len(),
            "a name is in the table twice"
        );
    }

    #[test]
    fn debug_shows_no_values() {
        let s = Settings::for_test(&[("AWS_SECRET_ACCESS_KEY", "sekrit")]);
        assert!(!format!("{s:?}").contains("sekrit"));
    }
}
