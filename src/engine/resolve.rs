//! A server URL resolved to the registry that serves it and the credentials to use: the host
//! rules of [`crate::host::registry`] plus the aliases and per-registry identities of the registry
//! config ([`crate::host::config`]). Every front end resolves through here, so a mapping applies
//! everywhere at once.

use crate::aws::credentials::{Base, CredentialSource};
use crate::aws::error::Error;
use crate::host::config::{self, Alias, ConfigError, Mapping, RegistryConfig};
use crate::host::registry::{self, EcrHost, HostError};
use crate::util::log::debug;
use crate::util::settings::Settings;

/// A server URL resolved through the config: the registry, the credentials, and why.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    /// The registry; for an alias, `host.host` is the alias (what the client asked about) and
    /// `host.registry` the ECR registry behind it.
    pub host: EcrHost,
    pub source: CredentialSource,
    /// The ECR registry's own host name (differs from `host.host` for an alias).
    pub registry_host: String,
    pub alias: Option<Alias>,
    pub mapping: Option<Mapping>,
}

/// The ECR registry a server URL stands for, and the credentials to use for it.
pub(crate) fn resolve(
    settings: &Settings,
    server_url: &str,
) -> Result<(EcrHost, CredentialSource), Error> {
    let resolved = resolve_detailed(server_url, &|| config::load(settings))?;
    Ok((resolved.host, resolved.source))
}

/// [`resolve`] with the reasons, for `doctor`. `load` is called only when the URL is well
/// formed, so malformed input costs no file access.
pub(crate) fn resolve_detailed(
    server_url: &str,
    load: &dyn Fn() -> Result<Option<RegistryConfig>, ConfigError>,
) -> Result<Resolved, Error> {
    let (host, alias, config) = registry_or_alias(server_url, load)?;
    let registry_host = match &alias {
        Some(a) => a.registry.host.clone(),
        None => host.host.clone(),
    };
    if let Some(a) = &alias {
        debug!(
            "{} is an alias (line {}) for {registry_host}",
            host.host, a.line
        );
    }
    let mapping = config
        .as_ref()
        .and_then(|c| c.mapping_for(&host.host, &registry_host))
        .cloned();
    let source = credentials_for(&host.host, mapping.as_ref());
    Ok(Resolved {
        host,
        source,
        registry_host,
        alias,
        mapping,
    })
}

/// The registry a server URL names, directly or through an `[[alias]]`, with the config read
/// on the way (read at most once, and only for a well-formed URL).
fn registry_or_alias(
    server_url: &str,
    load: &dyn Fn() -> Result<Option<RegistryConfig>, ConfigError>,
) -> Result<(EcrHost, Option<Alias>, Option<RegistryConfig>), Error> {
    match registry::parse_server_url(server_url) {
        Ok(host) => Ok((host, None, load()?)),
        // The URL passed every check of the parser and only its host is not ECR: an alias may
        // name it. (`NotEcr` carries the bare lower-case host for a domain name, and an IP
        // literal never matches an alias, which must be a domain name.)
        Err(HostError::NotEcr(name)) => {
            // An alias names a domain's HTTPS registry: another port may be another service.
            if !matches!(explicit_port(server_url), None | Some("443")) {
                return Err(Error::Host(HostError::NotEcr(name)));
            }
            let config = load()?;
            let Some(alias) = config.as_ref().and_then(|c| c.alias_for(&name)).cloned() else {
                return Err(Error::Host(HostError::NotEcr(name)));
            };
            let mut host = alias.registry.clone();
            host.host = name;
            host.port = None;
            Ok((host, Some(alias), config))
        }
        Err(e) => Err(e.into()),
    }
}

/// The credentials a `[[registry]]` entry names for `host`, else the default chain; logged,
/// since which identity answered is the first question when a pull is denied.
fn credentials_for(host: &str, mapping: Option<&Mapping>) -> CredentialSource {
    let Some(m) = mapping else {
        debug!("identity for {host}: the default credential chain");
        return CredentialSource::default_chain();
    };
    debug!(
        "identity for {host}: [[registry]] at line {} ({})",
        m.line,
        config::describe_mapping(m)
    );
    CredentialSource {
        base: match &m.profile {
            Some(p) => Base::Profile(p.clone()),
            None => Base::DefaultChain,
        },
        role_arn: m.role_arn.clone(),
        sts_region: m.region.clone(),
    }
}

/// The `:port` of a server URL that [`registry::parse_server_url`] has already accepted, so
/// that a plain textual split reads it the way the URL parser did.
fn explicit_port(server_url: &str) -> Option<&str> {
    let s = server_url.trim();
    let rest = s.split_once("://").map_or(s, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    authority.split_once(':').map(|(_, port)| port)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const GOOD: &str = r#"
# per-registry identities
[[registry]]
host = "111111111111.dkr.ecr.us-west-2.amazonaws.com"
profile = "dev"

[[registry]]
host = "333333333333.dkr.ecr.*.amazonaws.com"
role_arn = "arn:aws:iam::333333333333:role/pull"
region = "eu-west-1"

[[alias]]
host = "Registry.Example.com"
registry = "123456789012.dkr.ecr.us-west-2.amazonaws.com"
"#;

    fn parse_ok(text: &str) -> RegistryConfig {
        config::parse(Path::new("/t/config.toml"), text).unwrap()
    }

    fn with(config: RegistryConfig) -> impl Fn() -> Result<Option<RegistryConfig>, ConfigError> {
        move || Ok(Some(config.clone()))
    }

    #[test]
    fn mappings_choose_the_credentials() {
        let config = parse_ok(GOOD);
        let load = with(config);
        let r = resolve_detailed("111111111111.dkr.ecr.us-west-2.amazonaws.com", &load).unwrap();
        assert!(matches!(&r.source.base, Base::Profile(p) if p == "dev"));
        assert_eq!(r.mapping.unwrap().line, 3);

        let r = resolve_detailed(
            "https://333333333333.dkr.ecr.ap-south-1.amazonaws.com/v2/",
            &load,
        )
        .unwrap();
        assert_eq!(
            r.source.role_arn.as_deref(),
            Some("arn:aws:iam::333333333333:role/pull")
        );
        assert_eq!(r.source.sts_region.as_deref(), Some("eu-west-1"));
        assert_eq!(r.host.token_scope().region, "ap-south-1");

        let r = resolve_detailed("222222222222.dkr.ecr.us-west-2.amazonaws.com", &load).unwrap();
        assert!(r.mapping.is_none());
        assert!(matches!(r.source.base, Base::DefaultChain) && r.source.role_arn.is_none());
    }

    #[test]
    fn aliases_answer_as_their_registry() {
        let load = with(parse_ok(GOOD));
        for url in [
            "registry.example.com",
            "https://REGISTRY.example.com:443/v2/",
            "registry.example.com:443",
        ] {
            let r = resolve_detailed(url, &load).unwrap();
            assert_eq!(r.host.host, "registry.example.com", "{url}");
            assert_eq!(
                r.registry_host,
                "123456789012.dkr.ecr.us-west-2.amazonaws.com"
            );
            assert_eq!(r.host.token_scope().key(), "ecr:us-west-2");
            assert_eq!(r.alias.unwrap().line, 12);
        }
        for url in [
            "https://x@registry.example.com",
            "registry.example.com:5000",
            "registry.example.com.evil.example",
            "evil.registry.example.com",
        ] {
            assert!(resolve_detailed(url, &load).is_err(), "{url} was resolved");
        }
    }

    #[test]
    fn malformed_urls_do_not_read_the_file() {
        let load = || -> Result<Option<RegistryConfig>, ConfigError> {
            panic!("the config was read for malformed input")
        };
        assert!(resolve_detailed("https://a@b", &load).is_err());
    }
}
