//! Which hosts are Amazon ECR registries, and what a host says about where to get its token.
//!
//! This is the program's security boundary: a token is only ever handed out for a host that this
//! module accepts, so parsing is strict and anchored. A server URL is read the way a URL parser
//! (and so the client that will connect) reads it, and must also read the same way to a plain
//! textual split; when the two views disagree (`@`, `\`, `%`, `#` tricks) the input is refused.

use std::fmt;

/// An AWS partition that runs ECR: a set of regions with its own DNS names and credentials.
/// Every fact the code knows about a partition is in its row of [`PARTITIONS`], which lists
/// them in this order so that a partition finds its row by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Partition {
    AwsCn,
    AwsIsoF,
    AwsIsoE,
    AwsIsoB,
    Aws,
    AwsUsGov,
    AwsEusc,
    AwsIso,
}

/// What one partition's row says.
struct PartitionInfo {
    partition: Partition,
    /// The name AWS gives it (`aws-cn`), as ARNs and `doctor` show it.
    name: &'static str,
    /// How its regions' names begin; empty for the commercial partition, which takes every
    /// region no other prefix claims.
    region_prefix: &'static str,
    /// The DNS suffix of its regional endpoints (`api.ecr.<region>.<suffix>`).
    dns_suffix: &'static str,
    /// Every DNS suffix its registry hosts may end in (the dual-stack ones included).
    host_suffixes: &'static [&'static str],
}

/// The one partition table, one row per [`Partition`] in its order. The order also decides which of two equally near suffixes
/// a diagnosis suggests ([`host_suffixes`]); no suffix ends another at a label boundary, so
/// matching a host does not depend on it. GovCloud shares the commercial suffixes.
const PARTITIONS: &[PartitionInfo] = &[
    PartitionInfo {
        partition: Partition::AwsCn,
        name: "aws-cn",
        region_prefix: "cn-",
        dns_suffix: "amazonaws.com.cn",
        host_suffixes: &["on.amazonwebservices.com.cn", "amazonaws.com.cn"],
    },
    PartitionInfo {
        partition: Partition::AwsIsoF,
        name: "aws-iso-f",
        region_prefix: "us-isof-",
        dns_suffix: "csp.hci.ic.gov",
        host_suffixes: &["csp.hci.ic.gov"],
    },
    PartitionInfo {
        partition: Partition::AwsIsoE,
        name: "aws-iso-e",
        region_prefix: "eu-isoe-",
        dns_suffix: "cloud.adc-e.uk",
        host_suffixes: &["cloud.adc-e.uk"],
    },
    PartitionInfo {
        partition: Partition::AwsIsoB,
        name: "aws-iso-b",
        region_prefix: "us-isob-",
        dns_suffix: "sc2s.sgov.gov",
        host_suffixes: &["sc2s.sgov.gov"],
    },
    PartitionInfo {
        partition: Partition::Aws,
        name: "aws",
        region_prefix: "",
        dns_suffix: "amazonaws.com",
        host_suffixes: &["amazonaws.com", "on.aws"],
    },
    PartitionInfo {
        partition: Partition::AwsUsGov,
        name: "aws-us-gov",
        region_prefix: "us-gov-",
        dns_suffix: "amazonaws.com",
        host_suffixes: &["amazonaws.com", "on.aws"],
    },
    PartitionInfo {
        partition: Partition::AwsEusc,
        name: "aws-eusc",
        region_prefix: "eusc-",
        dns_suffix: "amazonaws.eu",
        host_suffixes: &["amazonaws.eu"],
    },
    PartitionInfo {
        partition: Partition::AwsIso,
        name: "aws-iso",
        region_prefix: "us-iso-",
        dns_suffix: "c2s.ic.gov",
        host_suffixes: &["c2s.ic.gov"],
    },
];

impl Partition {
    /// The partition a region belongs to, by its name's prefix.
    pub(crate) fn of_region(region: &str) -> Partition {
        PARTITIONS
            .iter()
            .find(|p| !p.region_prefix.is_empty() && region.starts_with(p.region_prefix))
            .map_or(Partition::Aws, |p| p.partition)
    }

    /// The partition's row: by index, as it is read for every registry host.
    fn info(self) -> &'static PartitionInfo {
        &PARTITIONS[self as usize]
    }

    /// The name AWS gives the partition (`aws-cn`).
    pub(crate) fn name(self) -> &'static str {
        self.info().name
    }

    /// The DNS suffix of the partition's regional endpoints.
    pub(crate) fn dns_suffix(self) -> &'static str {
        self.info().dns_suffix
    }

    /// Whether a registry host may end in `suffix` in this partition.
    fn has_host_suffix(self, suffix: &str) -> bool {
        self.info().host_suffixes.contains(&suffix)
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl PartialEq<&str> for Partition {
    fn eq(&self, other: &&str) -> bool {
        self.name() == *other
    }
}

/// The host suffix `host` ends in (at a label boundary) and the rest of the host before it.
fn split_host_suffix(host: &str) -> Option<(&'static str, &str)> {
    PARTITIONS
        .iter()
        .flat_map(|p| p.host_suffixes.iter().copied())
        .find_map(|suffix| Some((suffix, host.strip_suffix(suffix)?.strip_suffix('.')?)))
}

/// Every registry host suffix once, longest first (ties in table order): the candidates a
/// diagnosis suggests from. Error paths only.
fn host_suffixes() -> Vec<&'static str> {
    let mut all: Vec<&'static str> = Vec::new();
    for suffix in PARTITIONS
        .iter()
        .flat_map(|p| p.host_suffixes.iter().copied())
    {
        if !all.contains(&suffix) {
            all.push(suffix);
        }
    }
    all.sort_by_key(|s| std::cmp::Reverse(s.len()));
    all
}

/// The longest server URL we look at. Real ones are under 300 bytes.
pub(crate) const MAX_SERVER_URL_LEN: usize = 2048;

/// ECR Public's registry.
pub(crate) const PUBLIC_HOST: &str = "public.ecr.aws";

/// The one region where ECR Public issues tokens.
pub(crate) const PUBLIC_REGION: &str = "us-east-1";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registry {
    Private(PrivateRegistry),
    /// `public.ecr.aws`, or its dual-stack name `ecr-public.aws.com`.
    Public {
        dual_stack: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateRegistry {
    pub account: String,
    pub region: String,
    pub fips: bool,
    pub dual_stack: bool,
    pub partition: Partition,
}

/// A server URL that names an ECR registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrHost {
    /// The host, lower-cased, without port.
    pub host: String,
    pub port: Option<u16>,
    pub registry: Registry,
}

/// Why a server URL got no token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// A well-formed host that is simply not ECR: the normal case for a `credsStore`. Shown,
    /// it names the part that is wrong when the host looks meant for ECR ([`diagnose`]).
    #[error("{0} is not an Amazon ECR registry{why}", why = diagnosis_suffix(.0))]
    NotEcr(String),
    /// Input that is not a server URL at all.
    #[error("{0}")]
    Malformed(String),
}

impl HostError {
    /// Which part of a host that looks meant for ECR is wrong (see [`diagnose`]).
    pub fn diagnosis(&self) -> Option<String> {
        match self {
            HostError::NotEcr(host) => diagnose(host),
            HostError::Malformed(_) => None,
        }
    }
}

fn diagnosis_suffix(host: &str) -> String {
    diagnose(host).map(|d| format!(": {d}")).unwrap_or_default()
}

impl EcrHost {
    /// The private registry scope of `region` (no account: a token serves every account of a
    /// region), with the FIPS and dual-stack endpoints when the settings ask for them: for
    /// hosts that only stand for a region (mirrors in front of ECR, `get-login-password`).
    pub fn for_region(settings: &crate::util::settings::Settings, region: &str) -> Option<EcrHost> {
        if !is_region(region) {
            return None;
        }
        let suffix = partition_dns_suffix(region);
        let host = format!("dkr.ecr.{region}.{suffix}");
        let Some(Registry::Private(mut private)) = classify(&format!("000000000000.{host}")) else {
            return None;
        };
        private.account = String::new();
        private.fips = settings.is_true("AWS_USE_FIPS_ENDPOINT");
        private.dual_stack = settings.is_true("AWS_USE_DUALSTACK_ENDPOINT");
        Some(EcrHost {
            host,
            port: None,
            registry: Registry::Private(private),
        })
    }

    /// The registry's base URL as `list` reports it.
    pub fn url(&self) -> String {
        format!("https://{}", self.host)
    }

    /// Where this host's token comes from: one token serves every registry of a region (and
    /// endpoint variant) for one identity, so this, not the host, is what the cache is keyed by.
    pub fn token_scope(&self) -> TokenScope {
        match &self.registry {
            Registry::Private(p) => TokenScope {
                service: Service::Ecr,
                region: p.region.clone(),
                fips: p.fips,
                dual_stack: p.dual_stack,
            },
            // Both names of ECR Public take the same token: one scope, one API call.
            Registry::Public { .. } => TokenScope {
                service: Service::EcrPublic,
                region: PUBLIC_REGION.to_string(),
                fips: false,
                dual_stack: false,
            },
        }
    }
}

/// Which service issues the token: private ECR or ECR Public, two APIs with their own
/// endpoints, clients and cache keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    Ecr,
    EcrPublic,
}

impl Service {
    /// The service's name in cache keys and endpoint hosts (`ecr`, `ecr-public`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Service::Ecr => "ecr",
            Service::EcrPublic => "ecr-public",
        }
    }
}

/// The API endpoint a token is fetched from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenScope {
    pub service: Service,
    pub region: String,
    pub fips: bool,
    pub dual_stack: bool,
}

impl TokenScope {
    /// A short stable name, used as part of the cache key.
    pub fn key(&self) -> String {
        let mut key = format!("{}:{}", self.service.name(), self.region);
        if self.fips {
            key.push_str(":fips");
        }
        if self.dual_stack {
            key.push_str(":dualstack");
        }
        key
    }

    /// The default public endpoint for this scope (what `doctor` shows; an `AWS_ENDPOINT_URL*`
    /// override replaces it).
    pub fn default_endpoint(&self) -> String {
        if self.service == Service::EcrPublic {
            return if self.dual_stack {
                format!("https://ecr-public.{}.api.aws", self.region)
            } else {
                format!("https://api.ecr-public.{}.amazonaws.com", self.region)
            };
        }
        let suffix = partition_dns_suffix(&self.region);
        match (self.fips, self.dual_stack) {
            (false, false) => format!("https://api.ecr.{}.{suffix}", self.region),
            (true, false) => format!("https://ecr-fips.{}.{suffix}", self.region),
            (false, true) => format!("https://ecr.{}.api.aws", self.region),
            (true, true) => format!("https://ecr-fips.{}.api.aws", self.region),
        }
    }
}

impl fmt::Display for TokenScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

/// The partition a region belongs to, by its name.
pub(crate) fn partition_of(region: &str) -> Partition {
    Partition::of_region(region)
}

/// The DNS suffix of `region`'s partition.
pub(crate) fn partition_dns_suffix(region: &str) -> &'static str {
    Partition::of_region(region).dns_suffix()
}

/// Reads a server URL as sent by a container client: `host`, `host:port`, `https://host[:port]`,
/// `http://host:443`, each optionally followed by a path.
pub fn parse_server_url(input: &str) -> Result<EcrHost, HostError> {
    let input = input.trim();
    if let Some(host) = bare_ecr_host(input) {
        return Ok(host);
    }
    check_characters(input)?;
    let (scheme, rest) = split_scheme(input)?;
    let authority = textual_authority(&scheme, rest)?;
    let (host, port) = url_host_and_port(&scheme, rest, authority)?;
    let registry = classify(&host).ok_or_else(|| HostError::NotEcr(host.clone()))?;
    Ok(EcrHost {
        host,
        port,
        registry,
    })
}

/// What Docker and podman send most: a bare ECR host name. Letters, digits, dots and hyphens
/// only, and a name the strict host table accepts: a URL parser reads such a name as itself
/// (lower-cased), so the full two-view check has nothing to add. `None` sends the input down
/// the full check, which also words the errors.
#[inline]
fn bare_ecr_host(input: &str) -> Option<EcrHost> {
    if input.is_empty()
        || input.len() > MAX_SERVER_URL_LEN
        || !input
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    {
        return None;
    }
    let host = input.to_ascii_lowercase();
    let registry = classify(&host)?;
    Some(EcrHost {
        host,
        port: None,
        registry,
    })
}

/// Refuses what no server URL holds before reading it at all: nothing, too much, control
/// characters and blanks.
fn check_characters(input: &str) -> Result<(), HostError> {
    if input.is_empty() {
        return Err(HostError::Malformed("the server URL is empty".into()));
    }
    if input.len() > MAX_SERVER_URL_LEN {
        return Err(HostError::Malformed(format!(
            "the server URL is {} bytes long; at most {MAX_SERVER_URL_LEN} are accepted",
            input.len()
        )));
    }
    if let Some(c) = input.chars().find(|c| c.is_control() || c.is_whitespace()) {
        return Err(HostError::Malformed(format!(
            "the server URL contains the character {c:?}"
        )));
    }
    Ok(())
}

/// The scheme, lower-cased (`https` when there is none, as clients assume), and the rest.
fn split_scheme(input: &str) -> Result<(String, &str), HostError> {
    let (scheme, rest) = match input.split_once("://") {
        Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
        None => ("https".to_string(), input),
    };
    if scheme != "https" && scheme != "http" {
        return Err(HostError::Malformed(format!(
            "unsupported scheme {scheme:?} in the server URL"
        )));
    }
    Ok((scheme, rest))
}

/// The textual view: the authority up to the first `/`, `?` or `#`, holding only what a host
/// name and port can hold, so that the URL parser's view has no trick left to disagree on.
fn textual_authority<'a>(scheme: &str, rest: &'a str) -> Result<&'a str, HostError> {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() {
        return Err(HostError::Malformed("the server URL has no host".into()));
    }
    if is_ipv6_literal(scheme, rest, authority) {
        return Err(HostError::NotEcr(authority.to_string()));
    }
    if let Some(c) = authority
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':')))
    {
        return Err(HostError::Malformed(format!(
            "the host part of the server URL contains {c:?}"
        )));
    }
    if rest.contains('\\') {
        return Err(HostError::Malformed(
            "the server URL contains a backslash".into(),
        ));
    }
    Ok(authority)
}

/// An IPv6 literal (`[::1]:5000`) is a registry like any other to a `credsStore`, so it gets
/// the silent answer rather than an error on the user's terminal. It is never ECR.
fn is_ipv6_literal(scheme: &str, rest: &str, authority: &str) -> bool {
    authority.starts_with('[')
        && authority
            .chars()
            .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '.' | '[' | ']'))
        && url::Url::parse(&format!("{scheme}://{rest}"))
            .is_ok_and(|u| matches!(u.host(), Some(url::Host::Ipv6(_))))
}

/// The URL parser's view, which is what a client connects to: its host (lower-cased) and
/// port, refused unless they are the textual view's own.
fn url_host_and_port(
    scheme: &str,
    rest: &str,
    authority: &str,
) -> Result<(String, Option<u16>), HostError> {
    let (text_host, text_port) = match authority.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    let url = url::Url::parse(&format!("{scheme}://{rest}"))
        .map_err(|e| HostError::Malformed(format!("the server URL does not parse: {e}")))?;
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.to_ascii_lowercase(),
        Some(_) => return Err(HostError::NotEcr(authority.to_string())),
        None => return Err(HostError::Malformed("the server URL has no host".into())),
    };
    let port = match text_port {
        None => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|p| *p != 0 && url.port_or_known_default() == Some(*p))
                .ok_or_else(|| HostError::Malformed(format!("bad port {p:?} in the server URL")))?,
        ),
    };
    if !url.username().is_empty()
        || url.password().is_some()
        || host != text_host.to_ascii_lowercase()
    {
        return Err(HostError::Malformed(
            "the server URL's host is ambiguous".into(),
        ));
    }
    Ok((host, port))
}

/// Matches a lower-case host name against the ECR host table.
pub fn classify(host: &str) -> Option<Registry> {
    match host {
        "public.ecr.aws" => return Some(Registry::Public { dual_stack: false }),
        "ecr-public.aws.com" => return Some(Registry::Public { dual_stack: true }),
        _ => {}
    }
    let (suffix, head) = split_host_suffix(host)?;
    let labels: Vec<&str> = head.split('.').collect();
    let (account, service, region) = match labels.as_slice() {
        [account, "dkr", service, region] => (*account, *service, *region),
        [account, service, region] if service.starts_with("dkr-") => (*account, *service, *region),
        _ => return None,
    };
    let (fips, dual_stack) = match service {
        "ecr" => (false, false),
        "ecr-fips" => (true, false),
        "dkr-ecr" => (false, true),
        "dkr-ecr-fips" => (true, true),
        _ => return None,
    };
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) || !is_region(region) {
        return None;
    }
    // A region under another partition's suffix names no registry: its token would come from
    // a region the host does not belong to.
    let partition = partition_of(region);
    if !partition.has_host_suffix(suffix) {
        return None;
    }
    Some(Registry::Private(PrivateRegistry {
        account: account.to_string(),
        region: region.to_string(),
        fips,
        dual_stack,
        partition,
    }))
}

/// `us-east-1`, `cn-north-1`, `us-isof-east-1`, `eusc-de-east-1`: letter groups joined by `-`,
/// ending in a number.
pub(crate) fn is_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    let Some((last, groups)) = parts.split_last() else {
        return false;
    };
    groups.len() >= 2
        && groups
            .iter()
            .all(|g| !g.is_empty() && g.bytes().all(|b| b.is_ascii_lowercase()))
        && !last.is_empty()
        && last.len() <= 3
        && last.bytes().all(|b| b.is_ascii_digit())
}

/// The regions of every partition when this was written (the partition data of aws-sdk-ecr
/// 1.138). A host in any other region of the right shape is still accepted ([`is_region`]),
/// so that a new region works without an upgrade: this list only feeds diagnoses, on error
/// paths and in `configure`, which asks the user to vouch for a region it does not know.
pub(crate) const KNOWN_REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "cn-north-1",
    "cn-northwest-1",
    "eu-central-1",
    "eu-central-2",
    "eu-isoe-west-1",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eusc-de-east-1",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-gov-east-1",
    "us-gov-west-1",
    "us-iso-east-1",
    "us-iso-west-1",
    "us-isob-east-1",
    "us-isob-west-1",
    "us-isof-east-1",
    "us-isof-south-1",
    "us-west-1",
    "us-west-2",
];

/// The service labels of a registry host: `<account>.dkr.ecr[-fips].<region>` or
/// `<account>.dkr-ecr[-fips].<region>`.
const SERVICE_NAMES: &[&str] = &["dkr.ecr", "dkr.ecr-fips", "dkr-ecr", "dkr-ecr-fips"];

pub(crate) fn is_known_region(region: &str) -> bool {
    KNOWN_REGIONS.contains(&region)
}

/// `region us-weest-2 is not an AWS region; did you mean us-west-2?` for a region missing from
/// [`KNOWN_REGIONS`]; `None` for a known one.
pub(crate) fn unknown_region(region: &str) -> Option<String> {
    if is_known_region(region) {
        return None;
    }
    let mut why = format!("region {region} is not an AWS region");
    if let Some(near) = nearest(region, KNOWN_REGIONS.iter().copied(), 3) {
        why.push_str(&format!("; did you mean {near}?"));
    }
    Some(why)
}

/// Which part of a host that looks meant for an ECR registry (it has a `dkr` label) keeps it
/// from being one: the account id, the service labels, the region, the DNS suffix, or a region
/// under another partition's suffix. `None` for hosts that do not look meant for ECR (a
/// `credsStore` sees many) or that have nothing wrong. Runs on error paths only.
pub(crate) fn diagnose(host: &str) -> Option<String> {
    let labels: Vec<&str> = host.split('.').collect();
    let dkr = labels.iter().position(|l| l.starts_with("dkr"))?;
    let mut problems = Vec::new();

    let account = labels[..dkr].join(".");
    if account.is_empty() {
        problems.push("there is no account id before dkr".to_string());
    } else if account.bytes().all(|b| b.is_ascii_digit()) {
        if account.len() != 12 {
            problems.push(format!("account id has {} digits, not 12", account.len()));
        }
    } else {
        problems.push(format!("account id {account} is not 12 digits"));
    }

    let (service, region_at) = if labels[dkr] == "dkr" {
        let next = labels.get(dkr + 1).copied().unwrap_or_default();
        (format!("dkr.{next}"), dkr + 2)
    } else {
        (labels[dkr].to_string(), dkr + 1)
    };
    if !SERVICE_NAMES.contains(&service.as_str()) {
        let mut why = format!("{service} is not ECR's service name");
        if let Some(near) = nearest(&service, SERVICE_NAMES.iter().copied(), 2) {
            why.push_str(&format!("; did you mean {near}?"));
        }
        problems.push(why);
    }

    let Some(region) = labels.get(region_at).copied() else {
        problems.push("there is no region after the service name".to_string());
        return Some(problems.join("; "));
    };
    let suffix = labels.get(region_at + 1..).unwrap_or_default().join(".");
    let known_suffix = host_suffixes().contains(&suffix.as_str());
    if !known_suffix {
        problems.push(suffix_problem(&suffix));
    }
    if !is_region(region) || !is_known_region(region) {
        problems.extend(unknown_region(region));
    }
    if known_suffix && is_region(region) && !partition_of(region).has_host_suffix(&suffix) {
        problems.push(format!(
            "{region} belongs to the {} partition ({})",
            partition_of(region),
            partition_dns_suffix(region)
        ));
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

/// `.con is not an AWS DNS suffix; did you mean .com?`: only the differing last label when
/// that is all that differs from the nearest suffix, else the whole suffix.
fn suffix_problem(suffix: &str) -> String {
    if suffix.is_empty() {
        return "there is no DNS suffix after the region".to_string();
    }
    let Some(near) = nearest(suffix, host_suffixes().into_iter(), 3) else {
        return format!("{suffix} is not an AWS DNS suffix");
    };
    match (suffix.rsplit_once('.'), near.rsplit_once('.')) {
        (Some((head, last)), Some((near_head, near_last))) if head == near_head => {
            format!(".{last} is not an AWS DNS suffix; did you mean .{near_last}?")
        }
        _ => format!("{suffix} is not an AWS DNS suffix; did you mean {near}?"),
    }
}

/// The candidate closest to `word` by edit distance, if within `max` edits (ties: the first).
fn nearest<'a>(
    word: &str,
    candidates: impl Iterator<Item = &'a str>,
    max: usize,
) -> Option<&'a str> {
    candidates
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= max)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Edits (insert, delete, substitute, swap two neighbours) from `a` to `b`, by bytes: the
/// optimal string alignment distance.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        for j in 0..=b.len() {
            d[i * width + j] = if i == 0 || j == 0 {
                i + j
            } else {
                let cost = usize::from(a[i - 1] != b[j - 1]);
                let mut best = (d[(i - 1) * width + j] + 1)
                    .min(d[i * width + j - 1] + 1)
                    .min(d[(i - 1) * width + j - 1] + cost);
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    best = best.min(d[(i - 2) * width + j - 2] + 1);
                }
                best
            };
        }
    }
    d[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scope's key is part of every cache key and record name: it must not change.
    #[test]
    fn scope_keys_are_stable() {
        for (input, key) in [
            ("public.ecr.aws", "ecr-public:us-east-1"),
            ("ecr-public.aws.com", "ecr-public:us-east-1"),
            (
                "123456789012.dkr.ecr.us-west-2.amazonaws.com",
                "ecr:us-west-2",
            ),
            (
                "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com",
                "ecr:us-gov-west-1:fips",
            ),
            (
                "123456789012.dkr-ecr.eu-west-1.on.aws",
                "ecr:eu-west-1:dualstack",
            ),
            (
                "123456789012.dkr-ecr-fips.us-east-1.on.aws",
                "ecr:us-east-1:fips:dualstack",
            ),
        ] {
            let scope = parse_server_url(input).unwrap().token_scope();
            assert_eq!(scope.key(), key, "{input}");
            assert_eq!(scope.to_string(), key, "{input}");
        }
    }

    #[test]
    fn each_partition_is_its_own_row() {
        assert_eq!(PARTITIONS.len(), 8);
        for (index, row) in PARTITIONS.iter().enumerate() {
            assert_eq!(row.partition as usize, index, "{}", row.name);
            assert_eq!(row.partition.name(), row.name);
        }
        // The order a diagnosis picks among equally near suffixes, as the hand-kept list had it.
        assert_eq!(
            host_suffixes(),
            [
                "on.amazonwebservices.com.cn",
                "amazonaws.com.cn",
                "csp.hci.ic.gov",
                "cloud.adc-e.uk",
                "sc2s.sgov.gov",
                "amazonaws.com",
                "amazonaws.eu",
                "c2s.ic.gov",
                "on.aws",
            ]
        );
    }

    #[test]
    fn typos_are_named_part_by_part() {
        let why = |host: &str| match parse_server_url(host) {
            Err(e @ HostError::NotEcr(_)) => e.to_string(),
            other => panic!("{host}: {other:?}"),
        };
        for (host, message) in [
            (
                "12345678901.dkr.ecr.us-west-2.amazonaws.com",
                "account id has 11 digits, not 12",
            ),
            (
                "x23456789012.dkr.ecr.us-west-2.amazonaws.com",
                "account id x23456789012 is not 12 digits",
            ),
            (
                "123456789012.dkr.ecr.us-west-2.amazonaws.con",
                ".con is not an AWS DNS suffix; did you mean .com?",
            ),
            (
                "123456789012.dkr.ecr.us-west-2.amazonaw.com",
                "amazonaw.com is not an AWS DNS suffix; did you mean amazonaws.com?",
            ),
            (
                "123456789012.dkr.ecr.cn-north-1.amazonaws.com",
                "cn-north-1 belongs to the aws-cn partition (amazonaws.com.cn)",
            ),
            (
                "123456789012.dkr.ecr.us-west2.amazonaws.com",
                "region us-west2 is not an AWS region; did you mean us-west-2?",
            ),
            (
                "123456789012.dkr.ecrr.us-west-2.amazonaws.com",
                "dkr.ecrr is not ECR's service name; did you mean dkr.ecr?",
            ),
            (
                "12345678901.dkr.ecr.us-weest-2.amazonaws.com",
                "account id has 11 digits, not 12; region us-weest-2 is not an AWS region; did you mean us-west-2?",
            ),
        ] {
            assert_eq!(
                why(host),
                format!("{host} is not an Amazon ECR registry: {message}")
            );
        }
        // Hosts that are not meant for ECR get the plain answer.
        for host in ["docker.io", "ghcr.io", "public.ecr.aws.example.com"] {
            assert_eq!(why(host), format!("{host} is not an Amazon ECR registry"));
        }
    }

    #[test]
    fn unknown_regions_are_still_registries_but_are_named() {
        // Accepted for `get`: a region newer than this program must work.
        let host = parse_server_url("123456789012.dkr.ecr.us-weest-2.amazonaws.com").unwrap();
        assert_eq!(host.token_scope().region, "us-weest-2");
        assert_eq!(
            unknown_region("us-weest-2").as_deref(),
            Some("region us-weest-2 is not an AWS region; did you mean us-west-2?")
        );
        assert_eq!(
            unknown_region("xy-future-9").as_deref(),
            Some("region xy-future-9 is not an AWS region")
        );
        for region in KNOWN_REGIONS {
            assert!(is_region(region), "{region}");
            assert_eq!(unknown_region(region), None);
            assert!(
                parse_server_url(&format!(
                    "123456789012.dkr.ecr.{region}.{}",
                    partition_dns_suffix(region)
                ))
                .is_ok(),
                "{region}"
            );
        }
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("us-west-2", "us-west-2"), 0);
        assert_eq!(edit_distance("us-weest-2", "us-west-2"), 1);
        assert_eq!(edit_distance("us-wset-2", "us-west-2"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("con", "com"), 1);
    }

    fn private(input: &str) -> PrivateRegistry {
        match parse_server_url(input) {
            Ok(EcrHost {
                registry: Registry::Private(p),
                ..
            }) => p,
            other => panic!("{input}: {other:?}"),
        }
    }

    #[test]
    fn accepts_the_documented_forms() {
        let cases = [
            (
                "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/blah/blah",
                "us-east-1",
                false,
                false,
            ),
            (
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com:443",
                "eu-west-1",
                false,
                false,
            ),
            (
                "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com:443",
                "eu-west-1",
                false,
                false,
            ),
            (
                "http://123456789012.dkr.ecr.eu-west-1.amazonaws.com:443",
                "eu-west-1",
                false,
                false,
            ),
            (
                "123456789012.dkr-ecr-fips.us-gov-east-1.on.aws",
                "us-gov-east-1",
                true,
                true,
            ),
            (
                "123456789012.dkr-ecr.us-west-2.on.aws",
                "us-west-2",
                false,
                true,
            ),
            (
                "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com",
                "us-east-1",
                true,
                false,
            ),
            (
                "210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn/foo",
                "cn-north-1",
                false,
                false,
            ),
            (
                "210987654321.dkr-ecr.cn-north-1.on.amazonwebservices.com.cn",
                "cn-north-1",
                false,
                true,
            ),
            (
                "123456789012.dkr.ecr.eusc-de-east-1.amazonaws.eu",
                "eusc-de-east-1",
                false,
                false,
            ),
            (
                "123456789012.dkr.ecr.us-isof-east-1.csp.hci.ic.gov",
                "us-isof-east-1",
                false,
                false,
            ),
            (
                "123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov",
                "us-iso-east-1",
                false,
                false,
            ),
            (
                "123456789012.dkr.ecr.us-isob-east-1.sc2s.sgov.gov",
                "us-isob-east-1",
                false,
                false,
            ),
            (
                "123456789012.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk",
                "eu-isoe-west-1",
                false,
                false,
            ),
            (
                "  HTTPS://123456789012.DKR.ECR.US-EAST-1.AMAZONAWS.COM\n",
                "us-east-1",
                false,
                false,
            ),
        ];
        for (input, region, fips, dual) in cases {
            let p = private(input);
            assert_eq!(
                (p.region.as_str(), p.fips, p.dual_stack),
                (region, fips, dual),
                "{input}"
            );
        }
        assert_eq!(
            private("123456789012.dkr.ecr.us-east-1.amazonaws.com").account,
            "123456789012"
        );
        assert_eq!(
            private("210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn").partition,
            "aws-cn"
        );
    }

    #[test]
    fn accepts_public() {
        for (input, dual) in [
            ("https://public.ecr.aws/amazonlinux", false),
            ("public.ecr.aws", false),
            ("public.ecr.aws:443", false),
            ("ecr-public.aws.com", true),
        ] {
            let h = parse_server_url(input).unwrap();
            assert_eq!(h.registry, Registry::Public { dual_stack: dual }, "{input}");
            assert_eq!(h.token_scope().region, "us-east-1");
        }
    }

    #[test]
    fn refuses_look_alikes() {
        for input in [
            "123456789012.dkr.ecr.us-west-2.amazonaws.com.fake.example.com",
            "public.ecr.aws.fake.example.com",
            "fakepublic.ecr.aws",
            "12345678901.dkr.ecr.us-west-2.amazonaws.com",
            "1234567890123.dkr.ecr.us-west-2.amazonaws.com",
            "123456789012.dog.ecr.us-west-2.amazonaws.com",
            "123456789012.dkr.ecr.us-west-2.amazonaws.lol",
            "210987654321.dkr.ecr.cn-north-1.on.aws.com.cn",
            "not-ecr-server-url",
            "123456789012.dkr.ecr.amazonaws.com",
            "123456789012.dkr.ecr.us_west_2.amazonaws.com",
            "x123456789012.dkr.ecr.us-west-2.amazonaws.com",
            "a.123456789012.dkr.ecr.us-west-2.amazonaws.com",
            "123456789012.dkr.ecr.us-west-2.amazonaws.com.",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com.cn",
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com",
            "123456789012.dkr-ecr.cn-north-1.on.aws",
            "123456789012.dkr.ecr.us-iso-east-1.amazonaws.com",
            "123456789012.dkr.ecr.eusc-de-east-1.amazonaws.com",
            "127.0.0.1",
            "[::1]:443",
            "docker.io",
        ] {
            assert!(parse_server_url(input).is_err(), "{input} was accepted");
        }
    }

    #[test]
    fn refuses_parser_confusion() {
        for input in [
            "https://123456789012.dkr.ecr.us-east-1.amazonaws.com@evil.example.com/",
            "https://evil.example.com@123456789012.dkr.ecr.us-east-1.amazonaws.com/",
            "https://evil.example.com\\@123456789012.dkr.ecr.us-east-1.amazonaws.com/",
            "https://evil.example.com\\123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "https://evil.example.com#123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "https://evil.example.com?x=123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "https://evil.example.com/123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "https://123456789012.dkr.ecr.us-east-1.amazonaws.com%2eevil.example.com",
            "https://123456789012.dkr.ecr.us-east-1.amazonaws.com%00",
            "https://123456789012.dkr.ecr.us-east-1.amazonaws.com:443@evil.example.com",
            "https://123456789012.dkr.ecr.us-east-1.amazonaws.com:99999",
            "https://123456789012.dkr.ecr.us-east-1.amazonaws.com:0",
            "https://123456789012.dkr.ecr.us-east-1.amazonaws.com:",
            "https://123456789012.dkr.ecr.us-east-1.amazonaws.com\r\nHost: evil",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com\nevil.example.com",
            "ftp://123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "https://",
            "https://:443",
            "",
            "   ",
        ] {
            assert!(parse_server_url(input).is_err(), "{input:?} was accepted");
        }
        let long = format!("{}.dkr.ecr.us-east-1.amazonaws.com", "1".repeat(5000));
        assert!(parse_server_url(&long).is_err());
    }

    #[test]
    fn non_ecr_hosts_are_not_malformed() {
        assert!(matches!(
            parse_server_url("docker.io"),
            Err(HostError::NotEcr(_))
        ));
        assert!(matches!(
            parse_server_url("https://ghcr.io/v2/"),
            Err(HostError::NotEcr(_))
        ));
        assert!(matches!(
            parse_server_url("https://a@b"),
            Err(HostError::Malformed(_))
        ));
        for ipv6 in ["[::1]:5000", "https://[::1]/v2/", "[fe80::1]"] {
            assert!(
                matches!(parse_server_url(ipv6), Err(HostError::NotEcr(_))),
                "{ipv6}"
            );
        }
    }

    #[test]
    fn scopes_share_a_region() {
        let a = parse_server_url("111111111111.dkr.ecr.us-west-2.amazonaws.com").unwrap();
        let b = parse_server_url("222222222222.dkr.ecr.us-west-2.amazonaws.com").unwrap();
        let c = parse_server_url("222222222222.dkr.ecr-fips.us-west-2.amazonaws.com").unwrap();
        assert_eq!(a.token_scope(), b.token_scope());
        assert_ne!(a.token_scope(), c.token_scope());
        assert_eq!(a.token_scope().key(), "ecr:us-west-2");
        assert_eq!(
            c.token_scope().default_endpoint(),
            "https://ecr-fips.us-west-2.amazonaws.com"
        );
    }
}
