//! `doctor [HOST]`: why a pull says "no basic auth credentials", one check per line, each with
//! the fix.
//!
//! Every check runs the code `get` runs: host parsing and the registry config through
//! [`config::resolve_detailed`], the cache key through [`token::cache_key`], credentials through
//! [`fetch::resolve_credentials`] and the token through [`fetch::fetch`]. Only the caller
//! identity (STS `GetCallerIdentity`) is doctor's own call. Nothing secret is printed: the
//! token check shows the user name and expiry, never the password.

use crate::cache;
use crate::client_config::{self as configure, Client, Route};
use crate::config::{self, RegistryConfig};
use crate::credentials::CredentialSource;
use crate::error::Error;
use crate::fetch;
use crate::registry::{Registry, TokenScope};
use crate::resolve::{self, Resolved};
use crate::settings::Settings;
use crate::source::{Kind, ProfileKind, Source};
use crate::token::Context;
use clap::{Arg, ArgAction, ArgMatches, Command};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::time::Instant;

/// Every check, in the order they are reported: the order of the data path (what the host is,
/// whose credentials, whether the clients ask us at all, then what the cache holds and what AWS
/// answers now).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckId {
    Host,
    RegistryConfig,
    Credentials,
    CallerIdentity,
    DockerConfig,
    PodmanConfig,
    HelperOnPath,
    Cache,
    Token,
}

impl CheckId {
    fn name(self) -> &'static str {
        match self {
            CheckId::Host => "host",
            CheckId::RegistryConfig => "registry_config",
            CheckId::Credentials => "credentials",
            CheckId::CallerIdentity => "caller_identity",
            CheckId::DockerConfig => "docker_config",
            CheckId::PodmanConfig => "podman_config",
            CheckId::HelperOnPath => "helper_on_path",
            CheckId::Cache => "cache",
            CheckId::Token => "token",
        }
    }
}

/// Bumped only when a field is renamed or removed; new checks and detail keys may be added.
pub const JSON_SCHEMA: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
    Skip,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Pass => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub id: CheckId,
    pub status: Status,
    pub message: String,
    pub fix: Option<String>,
    pub details: BTreeMap<&'static str, String>,
}

impl Check {
    fn new(id: CheckId, status: Status, message: impl Into<String>) -> Check {
        Check {
            id,
            status,
            message: message.into(),
            fix: None,
            details: BTreeMap::new(),
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }

    fn detail(mut self, key: &'static str, value: impl Into<String>) -> Check {
        self.details.insert(key, value.into());
        self
    }
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub schema: u32,
    pub host: Option<String>,
    /// The exit code's meaning: a token could be had (with a host) or credentials resolved
    /// (without one).
    pub ok: bool,
    pub checks: Vec<Check>,
}

pub fn command() -> Command {
    Command::new("doctor")
        .about("Check, step by step, why a registry gets or does not get a token")
        .long_about(
            "Checks how HOST parses (account, region, partition, FIPS/dual-stack, the endpoint \
             called), the registry config, which credential source is in effect and whose \
             identity it is (STS GetCallerIdentity), whether Docker's and podman's configs route \
             HOST to this helper, whether the helper is on PATH, the cache entry, and fetches a \
             token. Each line passes or fails with the fix. Exits 0 when a token can be had \
             (without HOST: when credentials resolve), 1 otherwise. Never prints a password.",
        )
        .arg(
            Arg::new("host")
                .value_name("HOST")
                .help("The registry (host or server URL) to check; without it, only the host-independent checks run"),
        )
        .arg(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .help("Print the report as one JSON object (schema in the README)"),
        )
}

/// Runs `doctor`; returns the exit code.
pub fn run(settings: Settings, matches: &ArgMatches) -> i32 {
    let host = matches.get_one::<String>("host").cloned();
    let report = diagnose(settings, host.as_deref());
    let out = &mut std::io::stdout().lock();
    if matches.get_flag("json") {
        match serde_json::to_string_pretty(&report) {
            Ok(json) => {
                let _ = writeln!(out, "{json}");
            }
            Err(_) => return 1,
        }
    } else {
        print_text(out, &report);
    }
    let _ = out.flush();
    if report.ok { 0 } else { 1 }
}

fn print_text(out: &mut dyn Write, report: &Report) {
    match &report.host {
        Some(h) => {
            let _ = writeln!(out, "ecr-login doctor: {h}");
        }
        None => {
            let _ = writeln!(out, "ecr-login doctor (no registry given)");
        }
    }
    for check in &report.checks {
        let _ = writeln!(
            out,
            "{:<5} {:<16} {}",
            check.status.label(),
            check.id.name(),
            check.message
        );
        if let Some(fix) = &check.fix {
            let _ = writeln!(out, "{:<22} fix: {fix}", "");
        }
    }
    let _ = writeln!(
        out,
        "{}",
        match (report.ok, report.host.is_some()) {
            (true, true) => "result: a token can be had for this registry",
            (false, true) => "result: no token for this registry; see the failed checks above",
            (true, false) => "result: credentials resolve; name a registry to check a token",
            (false, false) => "result: credentials do not resolve; see the failed checks above",
        }
    );
}

/// Runs every check.
pub fn diagnose(settings: Settings, input: Option<&str>) -> Report {
    let deadline = settings.deadline;
    let mut checks = Vec::new();

    // The registry config, loaded once and handed to the resolver `get` uses.
    let loaded = config::load(&settings);
    checks.push(registry_config_check(&settings, &loaded));
    let loaded_config = loaded.as_ref().ok().cloned().flatten();

    let mut resolved = None;
    let mut failed_early = loaded.is_err();
    if let Some(input) = input {
        let load = || Ok(loaded_config.clone());
        match resolve::resolve_detailed(input, &load) {
            Ok(r) => resolved = Some(r),
            Err(e) => {
                failed_early = true;
                checks.push(host_error_check(input, &e));
            }
        }
    }
    let source = resolved
        .as_ref()
        .map(|r| r.source.clone())
        .unwrap_or_else(CredentialSource::default_chain);
    let cx = match Context::load(settings) {
        Ok(cx) => cx,
        Err(e) => {
            checks.push(
                Check::new(CheckId::Credentials, Status::Fail, e.to_string())
                    .fix("point AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE at regular files"),
            );
            return finish(input, checks, false);
        }
    };
    let scope = match &resolved {
        Some(r) => r.host.token_scope(),
        None => TokenScope {
            public: false,
            region: crate::kubelet::default_region(&cx).unwrap_or_else(|| "us-east-1".into()),
            fips: false,
            dual_stack: false,
        },
    };
    if let Some(r) = &resolved
        && let Some(c) = checks.iter_mut().find(|c| c.id == CheckId::RegistryConfig)
    {
        match &r.mapping {
            Some(m) => {
                c.message = format!(
                    "{}; [[registry]] at line {} applies: {}",
                    c.message,
                    m.line,
                    config::describe_mapping(m)
                );
                c.details.insert("mapping_line", m.line.to_string());
                c.details.insert("mapping_host", m.host.clone());
            }
            None if loaded_config.is_some() => {
                c.message = format!(
                    "{}; no [[registry]] entry matches, so the default credential chain is used",
                    c.message
                );
            }
            None => {}
        }
    }

    let budget = deadline.saturating_duration_since(Instant::now());
    let live = fetch::block_on(deadline, "running the checks", async {
        Ok(live_checks(&cx, resolved.as_ref(), &scope, &source, deadline).await)
    })
    .unwrap_or_else(|e| {
        vec![
            Check::new(
                CheckId::Credentials,
                Status::Fail,
                format!("{e} (budget {budget:.1?}, AWS_ECR_TIMEOUT)"),
            )
            .fix("check the network path to AWS, or raise AWS_ECR_TIMEOUT"),
        ]
    });

    let creds_ok = live
        .iter()
        .any(|c| c.id == CheckId::Credentials && c.status == Status::Pass);
    let token_ok = live
        .iter()
        .any(|c| c.id == CheckId::Token && c.status == Status::Pass);
    checks.extend(live);
    match &resolved {
        Some(r) => {
            checks.extend(client_checks(&cx.settings, &r.host.host));
            checks.push(cache_check(&cx, &r.host, &r.source));
        }
        None => checks.extend(client_checks_without_host(&cx.settings)),
    }
    checks.push(path_check(&cx.settings));
    checks.sort_by_key(|c| c.id);
    let ok = !failed_early
        && match input {
            Some(_) => token_ok,
            None => creds_ok,
        };
    finish(input, checks, ok)
}

fn finish(input: Option<&str>, checks: Vec<Check>, ok: bool) -> Report {
    Report {
        schema: JSON_SCHEMA,
        host: input.map(str::to_string),
        ok,
        checks,
    }
}

fn registry_config_check(
    settings: &Settings,
    loaded: &Result<Option<RegistryConfig>, config::ConfigError>,
) -> Check {
    let path = config::path(settings)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "(no HOME and no AWS_ECR_CONFIG)".into());
    match loaded {
        Ok(None) => Check::new(
            CheckId::RegistryConfig,
            Status::Pass,
            format!(
                "no registry config at {path}; every registry uses the default credential chain"
            ),
        )
        .detail("path", path)
        .detail("present", "false"),
        Ok(Some(c)) => Check::new(
            CheckId::RegistryConfig,
            Status::Pass,
            format!(
                "{path}: {} [[registry]] entries, {} [[alias]] entries",
                c.registries.len(),
                c.aliases.len()
            ),
        )
        .detail("path", path)
        .detail("present", "true"),
        Err(e) => Check::new(CheckId::RegistryConfig, Status::Fail, e.to_string())
            .fix("fix or remove the file: until then every `get` answers \"credentials not found\"")
            .detail("path", path)
            .detail("present", "true"),
    }
}

fn host_error_check(input: &str, e: &Error) -> Check {
    let check = Check::new(CheckId::Host, Status::Fail, format!("{input}: {e}"));
    match e {
        Error::Host(crate::registry::HostError::NotEcr(_)) => check.fix(
            "use the ECR host <account>.dkr.ecr.<region>.amazonaws.com or public.ecr.aws; for a custom domain, add an [[alias]] to the registry config",
        ),
        Error::RegistryConfig(_) => check.fix("fix the registry config (see registry_config)"),
        _ => check.fix("give the registry as host, host:443 or https://host/"),
    }
}

/// Host, credentials, caller identity and token: the checks that need the SDK configuration.
async fn live_checks(
    cx: &Context,
    resolved: Option<&Resolved>,
    scope: &TokenScope,
    source: &CredentialSource,
    deadline: Instant,
) -> Vec<Check> {
    let mut checks = Vec::new();
    let sdk = fetch::load_config(cx, scope, source, deadline).await;
    if let Some(r) = resolved {
        checks.push(host_check(&cx.settings, r, scope, &sdk));
    }
    let (check, credentials) = credentials_check(cx, &sdk, source).await;
    checks.push(check);
    let creds_ok = credentials.is_some();
    let mut caller_arn = None;
    if let Some(credentials) = credentials {
        let (check, arn) = caller_identity_check(&sdk, credentials).await;
        caller_arn = arn;
        checks.push(check);
    } else {
        checks.push(Check::new(
            CheckId::CallerIdentity,
            Status::Skip,
            "skipped: no credentials",
        ));
    }
    if let Some(r) = resolved {
        if creds_ok {
            checks.push(token_check(cx, r, scope, source, deadline, caller_arn.as_deref()).await);
        } else {
            checks.push(
                Check::new(CheckId::Token, Status::Fail, "no token: no credentials")
                    .fix("fix the credentials check above"),
            );
        }
    }
    checks
}

fn host_check(
    settings: &Settings,
    r: &Resolved,
    scope: &TokenScope,
    sdk: &aws_config::SdkConfig,
) -> Check {
    let endpoint = fetch::endpoint_for(settings, scope, sdk);
    let mut check = Check::new(CheckId::Host, Status::Pass, "")
        .detail("registry", r.registry_host.clone())
        .detail("endpoint", endpoint.clone())
        .detail("region", scope.region.clone())
        .detail("fips", scope.fips.to_string())
        .detail("dual_stack", scope.dual_stack.to_string())
        .detail("cache_scope", scope.key());
    let what = match &r.host.registry {
        Registry::Private(p) => {
            check = check
                .detail("kind", "private")
                .detail("account", p.account.clone())
                .detail("partition", p.partition.to_string());
            let mut variants = Vec::new();
            if p.fips {
                variants.push("FIPS");
            }
            if p.dual_stack {
                variants.push("dual-stack");
            }
            format!(
                "private ECR, account {}, region {}, partition {}{}",
                p.account,
                p.region,
                p.partition,
                if variants.is_empty() {
                    String::new()
                } else {
                    format!(", {}", variants.join(" and "))
                }
            )
        }
        Registry::Public { dual_stack } => {
            check = check.detail("kind", "public");
            format!(
                "ECR Public{} (tokens come from us-east-1)",
                if *dual_stack { ", dual-stack" } else { "" }
            )
        }
    };
    let alias = match &r.alias {
        Some(a) => {
            check = check.detail("alias_line", a.line.to_string());
            format!(
                " via the [[alias]] at line {} for {}",
                a.line, r.registry_host
            )
        }
        None => String::new(),
    };
    check.message = format!("{}: {what}{alias}; token endpoint {endpoint}", r.host.host);
    check
}

/// The credential source in words, and the credentials the chain resolves (the same call as
/// `get`'s), which the caller-identity check then uses.
async fn credentials_check(
    cx: &Context,
    sdk: &aws_config::SdkConfig,
    selection: &CredentialSource,
) -> (Check, Option<aws_credential_types::Credentials>) {
    let source = crate::source::describe(cx, selection);
    let (summary, kind, profile_kind) = (source.summary.clone(), source.kind, source.profile_kind);
    let role = selection
        .role_arn
        .as_ref()
        .map(|r| format!(", then assumes {r} (registry config)"))
        .unwrap_or_default();
    let started = Instant::now();
    let resolved = selection.resolve(&cx.settings, sdk).await;
    let mut check = match &resolved {
        Ok(creds) => {
            let temporary = creds.session_token().is_some();
            let mut c = Check::new(
                CheckId::Credentials,
                Status::Pass,
                format!(
                    "{summary}{role}: resolved in {} ms (access key {}, {})",
                    started.elapsed().as_millis(),
                    crate::source::mask_key_id(creds.access_key_id()),
                    if temporary { "temporary" } else { "long-term" }
                ),
            )
            .detail(
                "access_key_id",
                crate::source::mask_key_id(creds.access_key_id()),
            )
            .detail("temporary", temporary.to_string());
            if let Some(exp) = creds.expiry() {
                let secs = exp
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs_f64();
                c = c.detail("expires_in_seconds", format!("{:.0}", secs - cache::now()));
            }
            c
        }
        Err(e) => {
            let fix = match (&e, kind, profile_kind) {
                (_, _, Some(ProfileKind::Sso)) => "run `aws sso login` for this profile",
                (_, _, Some(ProfileKind::Missing)) => {
                    "define the profile in ~/.aws/config, or fix its name"
                }
                (Error::NoCredentials(_), Kind::None, _) => {
                    "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, run `aws configure`, or attach a role"
                }
                (Error::AccessDenied { .. }, _, _) if selection.role_arn.is_some() => {
                    "allow sts:AssumeRole on the role for these credentials, and trust them in the role's trust policy"
                }
                _ => {
                    "run `aws sts get-caller-identity` with the same environment to see the SDK's view"
                }
            };
            Check::new(
                CheckId::Credentials,
                Status::Fail,
                format!("{summary}{role}: {e}"),
            )
            .fix(fix)
        }
    };
    check = check.detail("source", kind.name());
    if let Some(p) = profile_kind {
        check = check.detail("profile_kind", p.name());
    }
    if let Source {
        profile: Some(p), ..
    } = &source
    {
        check = check.detail("profile", p.clone());
    }
    (check, resolved.ok())
}

async fn caller_identity_check(
    sdk: &aws_config::SdkConfig,
    creds: aws_credential_types::Credentials,
) -> (Check, Option<String>) {
    let conf = aws_sdk_sts::config::Builder::from(sdk)
        .credentials_provider(creds)
        .build();
    let started = Instant::now();
    match aws_sdk_sts::Client::from_conf(conf)
        .get_caller_identity()
        .send()
        .await
    {
        Ok(out) => {
            let arn = out.arn().unwrap_or("(no ARN)").to_string();
            let account = out.account().unwrap_or("").to_string();
            (
                Check::new(
                    CheckId::CallerIdentity,
                    Status::Pass,
                    format!("{arn} ({} ms)", started.elapsed().as_millis()),
                )
                .detail("arn", arn.clone())
                .detail("account", account),
                Some(arn),
            )
        }
        Err(e) => (
            Check::new(
                CheckId::CallerIdentity,
                Status::Fail,
                format!(
                    "STS GetCallerIdentity failed: {}",
                    fetch::sdk_error(e, "the STS endpoint")
                ),
            )
            .fix("the credentials were found but AWS does not accept them: refresh them (expired session, `aws sso login`) or check AWS_ENDPOINT_URL_STS"),
            None,
        ),
    }
}

async fn token_check(
    cx: &Context,
    r: &Resolved,
    scope: &TokenScope,
    source: &CredentialSource,
    deadline: Instant,
    caller: Option<&str>,
) -> Check {
    let started = Instant::now();
    match fetch::fetch(cx, scope, source, deadline).await {
        Ok(t) => Check::new(
            CheckId::Token,
            Status::Pass,
            format!(
                "GetAuthorizationToken answered in {} ms: user {}, valid for {}",
                started.elapsed().as_millis(),
                t.username,
                hours_minutes(t.expires_at - cache::now())
            ),
        )
        .detail("username", t.username)
        .detail("expires_at", format!("{:.0}", t.expires_at)),
        Err(e) => {
            let who = caller.unwrap_or("these credentials");
            let fix = match &e {
                Error::AccessDenied { .. } if matches!(r.host.registry, Registry::Public { .. }) => {
                    format!("allow ecr-public:GetAuthorizationToken and sts:GetServiceBearerToken for {who}")
                }
                Error::AccessDenied { .. } => format!(
                    "allow ecr:GetAuthorizationToken for {who} (an IAM policy, e.g. AmazonEC2ContainerRegistryReadOnly); pulling from another account also needs that repository's policy to allow it"
                ),
                Error::Network { .. } => "check DNS, proxy (HTTPS_PROXY) and routes to the endpoint above; in a private VPC, an ECR API VPC endpoint and AWS_ENDPOINT_URL_ECR".to_string(),
                Error::TimedOut(..) => "the endpoint did not answer in time: check the network path, or raise AWS_ECR_TIMEOUT".to_string(),
                Error::Throttled(_) => "try again shortly; the cache keeps calls to one per region and identity every 6 hours".to_string(),
                _ => "see the error; AWS_ECR_LOG_LEVEL=debug shows each step of a get".to_string(),
            };
            Check::new(CheckId::Token, Status::Fail, e.to_string()).fix(fix)
        }
    }
}

fn hours_minutes(secs: f64) -> String {
    let mins = (secs.max(0.0) / 60.0).round() as u64;
    format!("{}h{:02}m", mins / 60, mins % 60)
}

fn cache_check(cx: &Context, host: &crate::registry::EcrHost, source: &CredentialSource) -> Check {
    let Some(path) = cx.cache.path() else {
        return Check::new(
            CheckId::Cache,
            Status::Warn,
            "no cache (AWS_ECR_DISABLE_CACHE, or neither HOME nor AWS_ECR_CACHE_DIR): every pull calls AWS",
        )
        .fix("unset AWS_ECR_DISABLE_CACHE or set AWS_ECR_CACHE_DIR");
    };
    let key = cx.cache_key(&host.token_scope(), source);
    let path = path.display().to_string();
    let check = |status, message: String| {
        Check::new(CheckId::Cache, status, message)
            .detail("path", path.clone())
            .detail("key", key.clone())
    };
    let now = cache::now();
    match cx.cache.lookup(&key) {
        None => check(
            Status::Pass,
            format!(
                "{path}: no entry for this registry and identity yet; the next get fetches one"
            ),
        ),
        Some(e) => {
            let state = if e.is_fresh(now) {
                "fresh"
            } else if e.is_usable(now) {
                "due for refresh"
            } else {
                "expired"
            };
            check(
                Status::Pass,
                format!(
                    "{path}: an entry ({state}), expires in {}",
                    hours_minutes(e.expires_at - now)
                ),
            )
            .detail("state", state)
            .detail("expires_at", format!("{:.0}", e.expires_at))
            .detail("issued_at", format!("{:.0}", e.issued_at))
        }
    }
}

/// Does Docker's config, and podman's chain of files, send `host` to this helper?
fn client_checks(settings: &Settings, host: &str) -> Vec<Check> {
    let mut checks = Vec::new();
    let fix = format!("docker-credential-ecr-login configure --registry {host}");
    match docker_route(settings, host) {
        Ok((path, Route::CredHelper(h))) if h == configure::HELPER => checks.push(
            Check::new(
                CheckId::DockerConfig,
                Status::Pass,
                format!("{path}: credHelpers routes {host} to ecr-login"),
            )
            .detail("path", path)
            .detail("route", "credHelpers"),
        ),
        Ok((path, Route::CredHelper(h))) => checks.push(
            Check::new(
                CheckId::DockerConfig,
                Status::Fail,
                format!("{path}: credHelpers routes {host} to docker-credential-{h}"),
            )
            .fix(format!("{fix} --force"))
            .detail("path", path)
            .detail("route", "credHelpers"),
        ),
        Ok((path, Route::CredsStore(s))) if s == configure::HELPER => checks.push(
            Check::new(
                CheckId::DockerConfig,
                Status::Pass,
                format!("{path}: credsStore is ecr-login (podman and skopeo ignore credsStore)"),
            )
            .detail("path", path)
            .detail("route", "credsStore"),
        ),
        Ok((path, route)) => {
            let why = match route {
                Route::CredsStore(s) => format!("credsStore sends it to docker-credential-{s}"),
                Route::Auths => "it has a stored login in auths and no credHelpers entry".into(),
                _ => "no credHelpers entry and no credsStore".into(),
            };
            checks.push(
                Check::new(
                    CheckId::DockerConfig,
                    Status::Fail,
                    format!("{path}: Docker does not ask ecr-login for {host}: {why}"),
                )
                .fix(fix.clone())
                .detail("path", path)
                .detail("route", "none"),
            );
        }
        Err(e) => checks.push(Check::new(
            CheckId::DockerConfig,
            Status::Fail,
            e.to_string(),
        )),
    }
    checks.push(podman_check(settings, host, &fix));
    checks
}

fn docker_route(
    settings: &Settings,
    host: &str,
) -> Result<(String, Route), configure::ConfigureError> {
    let loc = configure::location(settings, Client::Docker)?;
    let path = loc.path.display().to_string();
    let route = match configure::read_json_file(&loc.path)? {
        Some(f) => configure::route(&f.doc, host),
        None => Route::None,
    };
    Ok((path, route))
}

/// podman reads its auth file, then `$XDG_CONFIG_HOME/containers/auth.json`, then Docker's
/// config; the first file that knows the host decides, and it ignores `credsStore`.
fn podman_check(settings: &Settings, host: &str, fix: &str) -> Check {
    let mut files = Vec::new();
    if let Ok(loc) = configure::location(settings, Client::Podman) {
        files.push(loc.path);
    }
    if settings.nonempty("REGISTRY_AUTH_FILE").is_none() {
        let config_home = settings
            .nonempty("XDG_CONFIG_HOME")
            .map(std::path::PathBuf::from)
            .or_else(|| settings.home().map(|h| h.join(".config")));
        if let Some(dir) = config_home {
            files.push(dir.join("containers/auth.json"));
        }
        if let Ok(loc) = configure::location(settings, Client::Docker) {
            files.push(loc.path);
        }
    }
    for file in &files {
        let Ok(Some(configure::ClientFile { doc, .. })) = configure::read_json_file(file) else {
            continue;
        };
        let path = file.display().to_string();
        match configure::route(&doc, host) {
            Route::CredHelper(h) if h == configure::HELPER => {
                return Check::new(
                    CheckId::PodmanConfig,
                    Status::Pass,
                    format!("{path}: credHelpers routes {host} to ecr-login"),
                )
                .detail("path", path);
            }
            Route::CredHelper(h) => {
                return Check::new(
                    CheckId::PodmanConfig,
                    Status::Warn,
                    format!("{path}: credHelpers routes {host} to docker-credential-{h}"),
                )
                .fix(format!("{fix} --podman --force"))
                .detail("path", path);
            }
            Route::Auths => {
                return Check::new(
                    CheckId::PodmanConfig,
                    Status::Warn,
                    format!("{path}: a stored login for {host} comes first (podman login); it expires after 12 hours"),
                )
                .fix(format!("podman logout {host}"))
                .detail("path", path);
            }
            _ => {}
        }
    }
    Check::new(
        CheckId::PodmanConfig,
        Status::Warn,
        format!(
            "podman, skopeo and buildah do not route {host} to ecr-login (they read credHelpers only, in {})",
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
    .fix(format!("{fix} (podman reads Docker's config too), or add --podman"))
}

fn client_checks_without_host(settings: &Settings) -> Vec<Check> {
    match configure::location(settings, Client::Docker) {
        Ok(loc) => {
            let path = loc.path.display().to_string();
            let (hosts, store) = match configure::read_json_file(&loc.path) {
                Ok(Some(configure::ClientFile { doc, .. })) => {
                    let hosts: Vec<String> = doc
                        .get("credHelpers")
                        .and_then(|c| c.as_object())
                        .map(|c| {
                            c.iter()
                                .filter(|(_, v)| v.as_str() == Some(configure::HELPER))
                                .map(|(k, _)| k.clone())
                                .collect()
                        })
                        .unwrap_or_default();
                    let store = doc
                        .get("credsStore")
                        .and_then(|s| s.as_str())
                        .map(str::to_string);
                    (hosts, store)
                }
                Ok(None) => (Vec::new(), None),
                Err(e) => {
                    return vec![Check::new(
                        CheckId::DockerConfig,
                        Status::Fail,
                        e.to_string(),
                    )];
                }
            };
            let message = if store.as_deref() == Some(configure::HELPER) {
                format!("{path}: credsStore is ecr-login")
            } else if hosts.is_empty() {
                format!("{path}: no registry is routed to ecr-login")
            } else {
                format!("{path}: routes {} to ecr-login", hosts.join(", "))
            };
            let status = if hosts.is_empty() && store.as_deref() != Some(configure::HELPER) {
                Status::Warn
            } else {
                Status::Pass
            };
            let mut check = Check::new(CheckId::DockerConfig, status, message).detail("path", path);
            if status == Status::Warn {
                check = check.fix("docker-credential-ecr-login configure --registry HOST");
            }
            vec![check]
        }
        Err(e) => vec![Check::new(
            CheckId::DockerConfig,
            Status::Fail,
            e.to_string(),
        )],
    }
}

fn path_check(settings: &Settings) -> Check {
    let name = format!("docker-credential-{}", configure::HELPER);
    let me = std::env::current_exe()
        .ok()
        .and_then(|p| std::fs::canonicalize(p).ok());
    match configure::find_on_path(settings, &name) {
        Some(found) => {
            let same = std::fs::canonicalize(&found).ok() == me;
            let shown = found.display().to_string();
            if same || me.is_none() {
                Check::new(
                    CheckId::HelperOnPath,
                    Status::Pass,
                    format!("{shown} is on PATH"),
                )
                .detail("path", shown)
            } else {
                Check::new(
                    CheckId::HelperOnPath,
                    Status::Warn,
                    format!(
                        "PATH finds {shown}, which is not this binary ({}): the clients run that one",
                        me.map(|m| m.display().to_string()).unwrap_or_default()
                    ),
                )
                .fix("put this binary first on PATH, or remove the other one")
                .detail("path", shown)
            }
        }
        None => Check::new(
            CheckId::HelperOnPath,
            Status::Fail,
            format!("{name} is not on PATH, and the clients run it by that name"),
        )
        .fix("install it into a directory on PATH (`cargo install`, or a link in /usr/local/bin)"),
    }
}
