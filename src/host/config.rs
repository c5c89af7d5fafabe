//! The registry config file (`$AWS_ECR_CONFIG`, else `~/.ecr/config.toml`): per-registry
//! profiles and roles, and aliases for registries behind a custom domain.
//!
//! Every front end resolves a server URL through [`crate::engine::resolve`], so the mapping applies everywhere
//! at once. `get` runs on every pull, so a missing file costs one failed `open` and nothing else;
//! a present one is small and parsed on each call rather than cached in some second file that
//! could go stale. A broken file is never half-used: every `get` fails with the file, line and
//! problem until it is fixed, because guessing would hand out the wrong identity's token.

use crate::host::registry::{self, EcrHost};
use crate::util::files::{self, FileError, Trust};
use crate::util::log::debug;
use crate::util::settings::Settings;
use serde::Deserialize;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A registry config is a few dozen lines; anything far larger is a mistake, not a config.
const MAX_FILE_SIZE: u64 = 1 << 20;

/// Why the registry config cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    #[error("the registry config: {0}")]
    Read(#[from] FileError),
    #[error("the registry config {}:{line}:{column}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

/// The parsed, checked file.
#[derive(Debug, Clone)]
pub(crate) struct RegistryConfig {
    pub registries: Vec<Mapping>,
    pub aliases: Vec<Alias>,
}

/// A `[[registry]]` entry: which credentials serve the hosts its pattern matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mapping {
    /// Lower-case host, where a `*` label stands for exactly one label.
    pub host: String,
    pub profile: Option<String>,
    pub role_arn: Option<String>,
    /// The region in which credentials are resolved and the role is assumed (STS); the token
    /// itself always comes from the registry's own region.
    pub region: Option<String>,
    /// Where the entry starts in the file, for messages.
    pub line: usize,
}

/// An `[[alias]]` entry: a custom domain answered as an ECR registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Alias {
    pub host: String,
    pub registry: EcrHost,
    pub line: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    registry: Vec<toml::Spanned<RawRegistry>>,
    #[serde(default)]
    alias: Vec<toml::Spanned<RawAlias>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistry {
    host: toml::Spanned<String>,
    profile: Option<toml::Spanned<String>>,
    role_arn: Option<toml::Spanned<String>>,
    region: Option<toml::Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlias {
    host: toml::Spanned<String>,
    registry: toml::Spanned<String>,
}

/// Where the registry config is looked for: `$AWS_ECR_CONFIG`, else `~/.ecr/config.toml`;
/// `None` without either (no `HOME`, as under some service managers).
pub(crate) fn path(settings: &Settings) -> Option<PathBuf> {
    if let Some(p) = settings.nonempty("AWS_ECR_CONFIG") {
        return Some(settings.expand_home(p));
    }
    settings.home().map(|h| h.join(".ecr").join("config.toml"))
}

/// The registry config, or `None` when there is no file.
pub(crate) fn load(settings: &Settings) -> Result<Option<RegistryConfig>, ConfigError> {
    let Some(path) = path(settings) else {
        return Ok(None);
    };
    let named = settings.nonempty("AWS_ECR_CONFIG").is_some();
    load_from(&path, named)
}

/// Reads and checks one file. A missing file is `None`; this open is the whole cost then.
///
/// The file decides which host gets which token (an alias sends a registry's token to another
/// domain), so it is trusted as the cache is: ours or root's, writable by nobody else.
pub(crate) fn load_from(path: &Path, named: bool) -> Result<Option<RegistryConfig>, ConfigError> {
    let started = Instant::now();
    let Some(bytes) = files::read(path, MAX_FILE_SIZE, Trust::Owner)? else {
        if named {
            crate::util::log::warning!(
                "AWS_ECR_CONFIG names {}, which does not exist; no registry config is used",
                path.display()
            );
        }
        return Ok(None);
    };
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
        invalid(path, &text, at..at, "the file is not valid UTF-8".into())
    })?;
    let config = parse(path, &text)?;
    debug!(
        "registry config {}: {} registry entries, {} aliases, read in {:?}",
        path.display(),
        config.registries.len(),
        config.aliases.len(),
        started.elapsed()
    );
    Ok(Some(config))
}

/// Parses and checks the text of a registry config named `path` (used in messages only).
/// Aliases are read first: a `[[registry]]` entry may name an alias's domain.
pub(crate) fn parse(path: &Path, text: &str) -> Result<RegistryConfig, ConfigError> {
    let file = ConfigText { path, text };
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        file.error(span, e.message().trim().to_string())
    })?;
    let mut aliases: Vec<Alias> = Vec::new();
    for entry in raw.alias {
        let alias = file.alias(entry, &aliases)?;
        aliases.push(alias);
    }
    let registries = raw
        .registry
        .into_iter()
        .map(|entry| file.mapping(entry, &aliases))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RegistryConfig {
        registries,
        aliases,
    })
}

/// The file being checked: each error names its path, line and column.
struct ConfigText<'a> {
    path: &'a Path,
    text: &'a str,
}

impl ConfigText<'_> {
    fn error(&self, span: Range<usize>, message: String) -> ConfigError {
        invalid(self.path, self.text, span, message)
    }

    /// One `[[alias]]` entry, checked against the ones before it: a custom domain (not already
    /// ECR, not named twice) and the ECR registry it stands for.
    fn alias(
        &self,
        entry: toml::Spanned<RawAlias>,
        earlier: &[Alias],
    ) -> Result<Alias, ConfigError> {
        let line = line_of(self.text, entry.span().start);
        let entry = entry.into_inner();
        let host = entry.host.get_ref().trim().to_ascii_lowercase();
        if let Err(why) = check_host_name(&host, false) {
            return Err(self.error(entry.host.span(), why));
        }
        if registry::classify(&host).is_some() {
            return Err(self.error(
                entry.host.span(),
                format!("{host} is already an ECR registry; an alias names a custom domain"),
            ));
        }
        if let Some(other) = earlier.iter().find(|a| a.host == host) {
            return Err(self.error(
                entry.host.span(),
                format!(
                    "{host} is already an alias (line {}); each domain names one registry",
                    other.line
                ),
            ));
        }
        let target = registry::parse_server_url(entry.registry.get_ref()).map_err(|e| {
            self.error(
                entry.registry.span(),
                format!("`registry` must be an ECR registry host: {e}"),
            )
        })?;
        Ok(Alias {
            host,
            registry: target,
            line,
        })
    }

    /// One `[[registry]]` entry: a host pattern that can apply, and at least one of its
    /// settings, each well-formed.
    fn mapping(
        &self,
        entry: toml::Spanned<RawRegistry>,
        aliases: &[Alias],
    ) -> Result<Mapping, ConfigError> {
        let line = line_of(self.text, entry.span().start);
        let entry_span = entry.span();
        let entry = entry.into_inner();
        let host = self.mapping_host(&entry.host, aliases)?;
        let profile = self.nonempty(&entry.profile, "profile")?;
        let role_arn = self.nonempty(&entry.role_arn, "role_arn")?;
        let region = self.nonempty(&entry.region, "region")?;
        self.check_role_arn(&entry.role_arn)?;
        self.check_region(&entry.region)?;
        if profile.is_none() && role_arn.is_none() && region.is_none() {
            return Err(self.error(
                entry_span,
                "this [[registry]] entry sets none of `profile`, `role_arn`, `region`".into(),
            ));
        }
        Ok(Mapping {
            host,
            profile,
            role_arn,
            region,
            line,
        })
    }

    /// A `[[registry]]` host pattern, lower-cased: one that some host can match, since an
    /// entry that never applies is a mistake the user would not otherwise see.
    fn mapping_host(
        &self,
        field: &toml::Spanned<String>,
        aliases: &[Alias],
    ) -> Result<String, ConfigError> {
        let host = field.get_ref().trim().to_ascii_lowercase();
        if let Err(why) = check_host_name(&host, true) {
            return Err(self.error(field.span(), why));
        }
        if !host.contains('*')
            && registry::classify(&host).is_none()
            && !aliases.iter().any(|a| a.host == host)
        {
            return Err(self.error(
                field.span(),
                format!(
                    "{host} is neither an ECR registry nor an [[alias]], so this entry would never apply"
                ),
            ));
        }
        Ok(host)
    }

    /// An optional field's trimmed value; present but blank is an error, not "unset".
    fn nonempty(
        &self,
        field: &Option<toml::Spanned<String>>,
        name: &str,
    ) -> Result<Option<String>, ConfigError> {
        match field {
            Some(v) if v.get_ref().trim().is_empty() => {
                Err(self.error(v.span(), format!("`{name}` is empty")))
            }
            Some(v) => Ok(Some(v.get_ref().trim().to_string())),
            None => Ok(None),
        }
    }

    fn check_role_arn(&self, field: &Option<toml::Spanned<String>>) -> Result<(), ConfigError> {
        let Some(field) = field else {
            return Ok(());
        };
        let role = field.get_ref().trim();
        if crate::host::names::is_role_arn(role) {
            return Ok(());
        }
        Err(self.error(
            field.span(),
            format!("{role:?} is not an IAM role ARN (arn:<partition>:iam::<account>:role/<name>)"),
        ))
    }

    fn check_region(&self, field: &Option<toml::Spanned<String>>) -> Result<(), ConfigError> {
        let Some(field) = field else {
            return Ok(());
        };
        let region = field.get_ref().trim();
        if registry::is_region(region) {
            return Ok(());
        }
        Err(self.error(
            field.span(),
            format!("{region:?} is not an AWS region name"),
        ))
    }
}

impl RegistryConfig {
    /// The first `[[registry]]` entry, in file order, whose pattern matches `host` or, for an
    /// alias, the registry behind it.
    pub(crate) fn mapping_for(&self, host: &str, registry_host: &str) -> Option<&Mapping> {
        self.registries
            .iter()
            .find(|m| host_matches(&m.host, host) || host_matches(&m.host, registry_host))
    }

    pub(crate) fn alias_for(&self, host: &str) -> Option<&Alias> {
        self.aliases.iter().find(|a| a.host == host)
    }
}

/// `profile p, role r, region x` for messages.
pub(crate) fn describe_mapping(m: &Mapping) -> String {
    let mut parts = Vec::new();
    if let Some(p) = &m.profile {
        parts.push(format!("profile {p}"));
    }
    if let Some(r) = &m.role_arn {
        parts.push(format!("role {r}"));
    }
    if let Some(r) = &m.region {
        parts.push(format!("region {r}"));
    }
    parts.join(", ")
}

/// Does `pattern` (labels, `*` standing for exactly one label) match `host`?
pub(crate) fn host_matches(pattern: &str, host: &str) -> bool {
    let mut p = pattern.split('.');
    let mut h = host.split('.');
    loop {
        match (p.next(), h.next()) {
            (None, None) => return true,
            (Some("*"), Some(label)) if !label.is_empty() => {}
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

/// A bare DNS name (no scheme, port or path); `*` labels only when `wildcards`.
fn check_host_name(host: &str, wildcards: bool) -> Result<(), String> {
    if host.is_empty() {
        return Err("`host` is empty".into());
    }
    if host.contains("://") || host.contains('/') || host.contains(':') {
        return Err(format!(
            "{host:?} is not a bare host name: leave out the scheme, port and path"
        ));
    }
    for label in host.split('.') {
        let ok = if label == "*" {
            wildcards
        } else {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        if !ok {
            return Err(if label.contains('*') && wildcards {
                format!("{host:?}: `*` must stand alone for one whole label")
            } else if label.contains('*') {
                format!("{host:?}: an alias names one domain, without `*`")
            } else {
                format!("{host:?} is not a valid host name")
            });
        }
    }
    Ok(())
}

fn invalid(path: &Path, text: &str, span: Range<usize>, message: String) -> ConfigError {
    let start = span.start.min(text.len());
    let line = line_of(text, start);
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..start].chars().count() + 1;
    ConfigError::Invalid {
        path: path.to_path_buf(),
        line,
        column,
        message: message.replace('\n', " "),
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(text: &str) -> (usize, String) {
        match parse(Path::new("/t/config.toml"), text) {
            Err(ConfigError::Invalid { line, message, .. }) => (line, message),
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn wildcards_stand_for_one_label() {
        let p = "333333333333.dkr.ecr.*.amazonaws.com";
        assert!(host_matches(
            p,
            "333333333333.dkr.ecr.us-east-1.amazonaws.com"
        ));
        assert!(!host_matches(p, "333333333333.dkr.ecr.a.b.amazonaws.com"));
        assert!(!host_matches(p, "333333333333.dkr.ecr..amazonaws.com"));
        assert!(!host_matches(
            p,
            "444444444444.dkr.ecr.us-east-1.amazonaws.com"
        ));
        assert!(!host_matches(
            p,
            "333333333333.dkr.ecr.us-east-1.amazonaws.com.cn"
        ));
        assert!(host_matches("a.b", "a.b"));
        assert!(!host_matches("a.b", "a.b.c"));
    }

    #[test]
    fn errors_name_the_line() {
        let cases: &[(&str, usize, &str)] = &[
            (
                "[[registry]]\nhost = \"x\"\nrol_arn = \"y\"\n",
                3,
                "unknown field",
            ),
            ("[[registry]]\nhost = 5\n", 2, "invalid type"),
            ("\n\n[[registry]\n", 3, ""),
            (
                "[[registry]]\nhost = \"111111111111.dkr.ecr.us-west-2.amazonaws.com\"\nrole_arn = \"arn:aws:iam::1:user/x\"\n",
                3,
                "not an IAM role ARN",
            ),
            (
                "[[registry]]\nhost = \"111111111111.dkr.ecr.us-west-2.amazonaws.com\"\nregion = \"moon\"\n",
                3,
                "region",
            ),
            (
                "[[registry]]\nhost = \"111111111111.dkr.ecr.us-west-2.amazonaws.com\"\n",
                1,
                "sets none",
            ),
            (
                "[[registry]]\nhost = \"docker.io\"\nprofile = \"x\"\n",
                2,
                "never apply",
            ),
            (
                "[[registry]]\nhost = \"https://111111111111.dkr.ecr.us-west-2.amazonaws.com\"\nprofile = \"x\"\n",
                2,
                "bare host",
            ),
            (
                "[[registry]]\nhost = \"1111*.dkr.ecr.us-west-2.amazonaws.com\"\nprofile = \"x\"\n",
                2,
                "stand alone",
            ),
            (
                "[[alias]]\nhost = \"a.example.com\"\nregistry = \"docker.io\"\n",
                3,
                "must be an ECR registry",
            ),
            (
                "[[alias]]\nhost = \"public.ecr.aws\"\nregistry = \"public.ecr.aws\"\n",
                2,
                "already an ECR registry",
            ),
            (
                "[[alias]]\nhost = \"*.example.com\"\nregistry = \"public.ecr.aws\"\n",
                2,
                "without `*`",
            ),
            (
                "[[alias]]\nhost = \"a.example.com\"\nregistry = \"public.ecr.aws\"\n[[alias]]\nhost = \"a.example.com\"\nregistry = \"public.ecr.aws\"\n",
                5,
                "already an alias",
            ),
            ("[[registry]]\nhost = \"x\"\nprofile = \"\"\n", 2, ""),
            ("unknown = 1\n", 1, "unknown field"),
        ];
        for (text, line, needle) in cases {
            let (got_line, message) = parse_err(text);
            assert_eq!(got_line, *line, "{text}: {message}");
            assert!(message.contains(needle), "{text}: {message}");
            assert!(!message.contains('\n'));
        }
    }

    #[test]
    fn missing_file_is_no_config() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            load_from(&dir.path().join("none.toml"), false)
                .unwrap()
                .is_none()
        );
        assert!(matches!(
            load_from(dir.path(), false),
            Err(ConfigError::Read(_))
        ));
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, b"[[registry]]\nhost = \"\xff\"\n").unwrap();
        assert!(matches!(
            load_from(&bad, false),
            Err(ConfigError::Invalid { line: 2, .. })
        ));
    }
}
