//! `doctor [HOST]`: why a pull says "no basic auth credentials", one check per line, each with
//! the fix.
//!
//! Every check runs the code `get` runs: host parsing and the registry config through
//! [`crate::engine::resolve`], the cache key through [`crate::engine::context::Context::cache_key`], credentials
//! through [`crate::aws::credentials::CredentialSource::resolve`] and the token through
//! [`fetch::fetch`]. Only the caller
//! identity (STS `GetCallerIdentity`) is doctor's own call. Nothing secret is printed: the
//! token check shows the user name and expiry, never the password.
//!
//! The text report streams: the checks that read local files come first and show at once, then
//! the calls to AWS, each bounded by its own share of the deadline, so that an endpoint that
//! never answers is blamed on the call that waited for it and the finished checks stay.

use crate::app::client_config::{self as configure, Client, Route};
use crate::app::exit::Exit;
use crate::aws::credentials::CredentialSource;
use crate::aws::error::Error;
use crate::aws::fetch;
use crate::aws::sdk_errors;
use crate::cache;
use crate::engine::context::Context;
use crate::engine::resolve::{self, Resolved};
use crate::engine::source::{Kind, ProfileKind, Source};
use crate::host::config::{self, RegistryConfig};
use crate::host::registry::{Registry, TokenScope};
use crate::util::settings::Settings;
use clap::{Arg, ArgAction, ArgMatches, Command};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

/// Every check, in the order they are reported: the order of the data path (what the host is,
/// whose credentials, whether the clients ask us at all, then what the cache holds and what AWS
/// answers now).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CheckId {
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
pub(crate) const JSON_SCHEMA: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
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
pub(crate) struct Check {
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

    /// Appends how long the call took.
    fn with_time(mut self, started: Instant) -> Check {
        self.message = format!("{} ({} ms)", self.message, started.elapsed().as_millis());
        self
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub schema: u32,
    pub host: Option<String>,
    /// The exit code's meaning: no check failed.
    pub ok: bool,
    pub checks: Vec<Check>,
}

pub(crate) fn command() -> Command {
    Command::new("doctor")
        .about("Check, step by step, why a registry gets or does not get a token")
        .long_about(
            "Checks how HOST parses (account, region, partition, FIPS/dual-stack, the endpoint \
             called), the registry config, which credential source is in effect and whose \
             identity it is (STS GetCallerIdentity), whether Docker's and podman's configs route \
             HOST to this helper, whether the helper is on PATH, the cache entry, and fetches a \
             token. Each line (ok, warn, FAIL or skip, with the fix) is printed as its check \
             finishes; each call to AWS has its own share of AWS_ECR_TIMEOUT, so a hang is \
             blamed on the step that hung. Exits 0 when no check fails, 1 otherwise. Never \
             prints a password.",
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

/// Runs `doctor`: `Ok` when no check failed. Its failures are the report's own lines.
pub(crate) fn run(settings: Settings, matches: &ArgMatches) -> Exit {
    let host = matches.get_one::<String>("host").cloned();
    let report = if matches.get_flag("json") {
        let report = diagnose(settings, host.as_deref());
        let Ok(json) = serde_json::to_string_pretty(&report) else {
            return Exit::Failed;
        };
        let out = &mut std::io::stdout().lock();
        let _ = writeln!(out, "{json}").and_then(|_| out.flush());
        report
    } else {
        run_text(settings, host.as_deref())
    };
    if report.ok { Exit::Ok } else { Exit::Failed }
}

/// The text report, each line written as its check finishes: with a slow endpoint, what is
/// known is on the screen while the rest is still waited for.
fn run_text(settings: Settings, host: Option<&str>) -> Report {
    let out = &mut std::io::stdout().lock();
    let _ = match host {
        Some(h) => writeln!(out, "ecr-login doctor: {h}"),
        None => writeln!(out, "ecr-login doctor (no registry given)"),
    };
    let _ = out.flush();
    let report = diagnose_streaming(settings, host, &mut |check| print_check(out, check));
    let _ = writeln!(out, "{}", result_line(&report)).and_then(|_| out.flush());
    report
}

fn print_check(out: &mut dyn Write, check: &Check) {
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
    let _ = out.flush();
}

fn result_line(report: &Report) -> &'static str {
    let passed = |id| {
        report
            .checks
            .iter()
            .any(|c| c.id == id && c.status == Status::Pass)
    };
    match (report.host.is_some(), report.ok) {
        (true, true) => "result: a token can be had for this registry",
        (true, false) if passed(CheckId::Token) => {
            "result: a token can be had, but the failed checks above stand in the way; see their fixes"
        }
        (true, false) => "result: no token for this registry; see the failed checks above",
        (false, true) => "result: credentials resolve; name a registry to check a token",
        (false, false) if passed(CheckId::Credentials) => {
            "result: credentials resolve, but checks above failed; see their fixes"
        }
        (false, false) => "result: no usable credentials; see the failed checks above",
    }
}

/// Runs every check; nothing is printed.
pub(crate) fn diagnose(settings: Settings, input: Option<&str>) -> Report {
    diagnose_streaming(settings, input, &mut |_| {})
}

/// Runs every check, handing each to `on_check` as it finishes: first those that read local
/// files only (they show at once), then those that call AWS, each under its own share of the
/// deadline, so that a hang is blamed on the step that hung and the finished checks are kept.
pub(crate) fn diagnose_streaming(
    settings: Settings,
    input: Option<&str>,
    on_check: &mut dyn FnMut(&Check),
) -> Report {
    let deadline = settings.deadline;
    let mut reporter = Reporter::new(on_check);
    if let Some(plan) = plan(settings, input, &mut reporter) {
        let run = fetch::block_on(deadline, "running the checks", async {
            checks_in_order(&plan, &mut reporter).await;
            Ok(())
        });
        if let Err(e) = run {
            reporter.interrupted(&plan, &e);
        }
    }
    reporter.finish(input)
}

/// What the checks run against, worked out from local files before anything is called.
struct Plan {
    cx: Context,
    resolved: Option<Resolved>,
    scope: TokenScope,
    source: CredentialSource,
    registry_config: Check,
}

/// The registry config, the host and the context; `None` (with the failure reported) when
/// the AWS files cannot be read, since nothing live can run then.
fn plan(settings: Settings, input: Option<&str>, r: &mut Reporter<'_>) -> Option<Plan> {
    let loaded = config::load(&settings);
    let mut registry_config = registry_config_check(&settings, &loaded);
    let loaded_config = loaded.as_ref().ok().cloned().flatten();
    let resolved = input.and_then(|input| {
        let load = || Ok(loaded_config.clone());
        resolve::resolve_detailed(input, &load)
            .map_err(|e| r.emit(host_error_check(input, &e)))
            .ok()
    });
    if let Some(res) = &resolved {
        describe_mapping(&mut registry_config, res, loaded_config.is_some());
    }
    let cx = match Context::load(settings) {
        Ok(cx) => cx,
        Err(e) => {
            r.emit(registry_config);
            r.emit(
                Check::new(CheckId::Credentials, Status::Fail, e.to_string())
                    .fix("point AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE at regular files"),
            );
            return None;
        }
    };
    let source = resolved
        .as_ref()
        .map(|r| r.source.clone())
        .unwrap_or_else(CredentialSource::default_chain);
    let scope = match &resolved {
        Some(r) => r.host.token_scope(),
        None => TokenScope {
            service: crate::host::registry::Service::Ecr,
            region: crate::engine::context::default_region(&cx)
                .unwrap_or_else(|| "us-east-1".into()),
            fips: false,
            dual_stack: false,
        },
    };
    Some(Plan {
        cx,
        resolved,
        scope,
        source,
        registry_config,
    })
}

/// Adds to the registry-config line which `[[registry]]` entry applies to the host.
fn describe_mapping(check: &mut Check, r: &Resolved, has_config: bool) {
    match &r.mapping {
        Some(m) => {
            check.message = format!(
                "{}; [[registry]] at line {} applies: {}",
                check.message,
                m.line,
                config::describe_mapping(m)
            );
            check.details.insert("mapping_line", m.line.to_string());
            check.details.insert("mapping_host", m.host.clone());
        }
        None if has_config => {
            check.message = format!(
                "{}; no [[registry]] entry matches, so the default credential chain is used",
                check.message
            );
        }
        None => {}
    }
}

/// The checks in the order they are printed: the host and the local files, then the calls to
/// AWS in the order of the data path.
async fn checks_in_order(plan: &Plan, r: &mut Reporter<'_>) {
    let cx = &plan.cx;
    let source = crate::engine::source::describe(cx, &plan.source);
    // Loading the configuration reads no network; were it to hang, the credentials are blamed.
    let (_, allowed) = step_limit(cx.settings.deadline, 1.0);
    r.start(credentials_timed_out(plan, &source, allowed));
    let sdk = fetch::load_config(
        &cx.settings,
        &cx.files,
        &plan.scope,
        &plan.source,
        cx.settings.deadline,
    )
    .await;
    if let Some(resolved) = &plan.resolved {
        r.emit(host_check(&cx.settings, resolved, &plan.scope, &sdk));
    }
    r.emit(plan.registry_config.clone());
    local_checks(plan, r);
    let credentials = credentials_step(plan, &sdk, &source, r).await;
    let credentials_ok = credentials.is_some();
    let caller = caller_identity_step(plan, &sdk, credentials, &source, r).await;
    if let Some(resolved) = &plan.resolved {
        let endpoint = fetch::endpoint_for(&cx.settings, &plan.scope, &sdk);
        let step = TokenStep {
            resolved,
            endpoint: &endpoint,
            caller: caller.as_deref(),
            source: &source,
        };
        token_step(plan, &step, credentials_ok, r).await;
    }
    r.release(TokenOutcome::NotIssued);
}

/// The checks that read local files only.
fn local_checks(plan: &Plan, r: &mut Reporter<'_>) {
    let settings = &plan.cx.settings;
    let clients = match &plan.resolved {
        Some(res) => client_checks(settings, &res.host.host),
        None => client_checks_without_host(settings),
    };
    for check in clients {
        r.emit(check);
    }
    r.emit(path_check(settings));
    if let Some(res) = &plan.resolved {
        r.emit(cache_check(&plan.cx, &res.host, &res.source));
    }
}

/// Collects the checks, hands each on as it is reported, and knows what to blame when the
/// deadline passes mid-step.
struct Reporter<'a> {
    on_check: &'a mut dyn FnMut(&Check),
    checks: Vec<Check>,
    /// What to report if the deadline passes during the step now running.
    pending: Option<Check>,
    /// A failed caller-identity check: warning or failure depends on the token check after it.
    held: Option<Check>,
}

/// What the token check came to, as far as a held caller-identity failure cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenOutcome {
    Issued,
    NotIssued,
}

impl<'a> Reporter<'a> {
    fn new(on_check: &'a mut dyn FnMut(&Check)) -> Reporter<'a> {
        Reporter {
            on_check,
            checks: Vec::new(),
            pending: None,
            held: None,
        }
    }

    fn emit(&mut self, check: Check) {
        self.pending = None;
        (self.on_check)(&check);
        self.checks.push(check);
    }

    fn start(&mut self, if_timed_out: Check) {
        self.pending = Some(if_timed_out);
    }

    fn hold(&mut self, check: Check) {
        self.held = Some(check);
    }

    /// Reports a held caller-identity failure: beside a working token it is only a warning,
    /// since the token is what pulls need.
    fn release(&mut self, token: TokenOutcome) {
        if let Some(mut check) = self.held.take() {
            if token == TokenOutcome::Issued {
                check.status = Status::Warn;
            }
            self.emit(check);
        }
    }

    /// The run stopped mid-step (the deadline, or no runtime): the step in progress is blamed
    /// and the live checks that never ran are reported as such.
    fn interrupted(&mut self, plan: &Plan, e: &Error) {
        let blamed = self
            .pending
            .take()
            .unwrap_or_else(|| Check::new(CheckId::Credentials, Status::Fail, e.to_string()));
        self.release(TokenOutcome::NotIssued);
        if !self.has(blamed.id) {
            self.emit(blamed);
        }
        let mut live = vec![CheckId::Credentials, CheckId::CallerIdentity];
        if plan.resolved.is_some() {
            live.push(CheckId::Token);
        }
        for id in live {
            if !self.has(id) {
                self.emit(Check::new(id, Status::Skip, "not run: no time was left"));
            }
        }
    }

    fn has(&self, id: CheckId) -> bool {
        self.checks.iter().any(|c| c.id == id)
    }

    /// The report, in the data path's order; it is ok when no check failed.
    fn finish(mut self, input: Option<&str>) -> Report {
        self.checks.sort_by_key(|c| c.id);
        Report {
            schema: JSON_SCHEMA,
            host: input.map(str::to_string),
            ok: !self.checks.iter().any(|c| c.status == Status::Fail),
            checks: self.checks,
        }
    }
}

/// Kept between a step's own limit and the deadline, so that the step, not the whole run, is
/// what times out and is named.
const MARGIN: Duration = Duration::from_millis(100);

/// The end of a step's share of the time left, and that share.
fn step_limit(deadline: Instant, share: f64) -> (Instant, Duration) {
    let left = deadline
        .saturating_duration_since(Instant::now())
        .saturating_sub(MARGIN);
    let allowed = left.mul_f64(share);
    (Instant::now() + allowed, allowed)
}

fn secs(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64())
}

/// A call that did not answer in its share of the time.
fn did_not_answer(
    id: CheckId,
    call: &str,
    endpoint: &str,
    allowed: Duration,
    fix: &str,
    settings: &Settings,
) -> Check {
    Check::new(
        id,
        Status::Fail,
        format!(
            "{call} at {endpoint} did not answer within {} s",
            secs(allowed)
        ),
    )
    .fix(format!(
        "{fix}; or raise AWS_ECR_TIMEOUT ({} s now)",
        secs(settings.timeout)
    ))
    .detail("endpoint", endpoint)
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
        Error::Host(crate::host::registry::HostError::NotEcr(_)) => check.fix(
            "use the ECR host <account>.dkr.ecr.<region>.amazonaws.com or public.ecr.aws; for a custom domain, add an [[alias]] to the registry config",
        ),
        Error::RegistryConfig(_) => check.fix("fix the registry config (see registry_config)"),
        _ => check.fix("give the registry as host, host:443 or https://host/"),
    }
}

/// `private ECR, account A, region R, partition P[, FIPS and dual-stack]`.
fn private_summary(p: &crate::host::registry::PrivateRegistry) -> String {
    let mut variants = Vec::new();
    if p.fips {
        variants.push("FIPS");
    }
    if p.dual_stack {
        variants.push("dual-stack");
    }
    let variants = if variants.is_empty() {
        String::new()
    } else {
        format!(", {}", variants.join(" and "))
    };
    format!(
        "private ECR, account {}, region {}, partition {}{variants}",
        p.account, p.region, p.partition
    )
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
            private_summary(p)
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

/// `, then assumes <role> (registry config)` when the registry config names a role.
fn role_suffix(plan: &Plan) -> String {
    plan.source
        .role_arn
        .as_ref()
        .map(|r| format!(", then assumes {r} (registry config)"))
        .unwrap_or_default()
}

/// The credential source in words, and the credentials the chain resolves (the same call as
/// `get`'s), which the caller-identity check then uses.
async fn credentials_step(
    plan: &Plan,
    sdk: &aws_config::SdkConfig,
    source: &Source,
    r: &mut Reporter<'_>,
) -> Option<aws_credential_types::Credentials> {
    let (limit, allowed) = step_limit(plan.cx.settings.deadline, 1.0);
    r.start(credentials_timed_out(plan, source, allowed));
    let started = Instant::now();
    let resolve = plan.source.resolve(&plan.cx.settings, sdk);
    let (check, credentials) = match tokio::time::timeout_at(limit.into(), resolve).await {
        Err(_) => (credentials_timed_out(plan, source, allowed), None),
        Ok(Ok(creds)) => (
            credentials_resolved(plan, source, &creds, started.elapsed()),
            Some(creds),
        ),
        Ok(Err(e)) => (credentials_failed(plan, source, &e), None),
    };
    r.emit(with_source_details(check, source));
    credentials
}

fn with_source_details(mut check: Check, source: &Source) -> Check {
    check = check.detail("source", source.kind.name());
    if let Some(p) = source.profile_kind {
        check = check.detail("profile_kind", p.name());
    }
    if let Some(p) = &source.profile {
        check = check.detail("profile", p.clone());
    }
    check
}

fn credentials_timed_out(plan: &Plan, source: &Source, allowed: Duration) -> Check {
    Check::new(
        CheckId::Credentials,
        Status::Fail,
        format!(
            "{}{}: resolving the credentials did not finish within {} s",
            source.summary,
            role_suffix(plan),
            secs(allowed)
        ),
    )
    .fix(format!(
        "a credential_process, SSO or STS call that does not finish: run `aws sts get-caller-identity` with the same environment to see where it stops; or raise AWS_ECR_TIMEOUT ({} s now)",
        secs(plan.cx.settings.timeout)
    ))
}

/// Resolved credentials; a failure when they have already expired (a `credential_process` or
/// a stale session can hand such out, and AWS refuses them).
fn credentials_resolved(
    plan: &Plan,
    source: &Source,
    creds: &aws_credential_types::Credentials,
    took: Duration,
) -> Check {
    let summary = format!("{}{}", source.summary, role_suffix(plan));
    let key = crate::engine::source::mask_key_id(creds.access_key_id());
    let temporary = creds.session_token().is_some();
    let mut check = Check::new(
        CheckId::Credentials,
        Status::Pass,
        format!(
            "{summary}: resolved in {} ms (access key {key}, {})",
            took.as_millis(),
            if temporary { "temporary" } else { "long-term" }
        ),
    )
    .detail("access_key_id", key)
    .detail("temporary", temporary.to_string());
    let Some(expiry) = creds.expiry() else {
        return check;
    };
    let expires_in = unix_seconds(expiry) - cache::now();
    check = check.detail("expires_in_seconds", format!("{expires_in:.0}"));
    if expires_in > 0.0 {
        return check;
    }
    check.status = Status::Fail;
    check.message = format!(
        "{summary}: the credentials it gives expired at {} ({} ago)",
        utc(expiry),
        ago(-expires_in)
    );
    check.fix(renew_hint(source))
}

fn unix_seconds(t: std::time::SystemTime) -> f64 {
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// `2020-01-01T00:00:00Z`.
fn utc(t: std::time::SystemTime) -> String {
    aws_sdk_ecr::primitives::DateTime::from(t)
        .fmt(aws_sdk_ecr::primitives::DateTimeFormat::DateTime)
        .unwrap_or_else(|_| format!("{:.0} (Unix seconds)", unix_seconds(t)))
}

/// A past span in the largest unit that fits: `3 minutes`, `5 hours`, `2531 days`.
fn ago(secs: f64) -> String {
    let (n, unit) = match secs {
        s if s < 120.0 => (s, "seconds"),
        s if s < 7200.0 => (s / 60.0, "minutes"),
        s if s < 172_800.0 => (s / 3600.0, "hours"),
        s => (s / 86400.0, "days"),
    };
    format!("{n:.0} {unit}")
}

/// How to get fresh credentials from this source.
fn renew_hint(source: &Source) -> String {
    let profile = source.profile.as_deref().unwrap_or("default");
    match (source.kind, source.profile_kind) {
        (_, Some(ProfileKind::Sso)) => format!("run `aws sso login --profile {profile}`"),
        (_, Some(ProfileKind::Login)) => format!("run `aws login --profile {profile}`"),
        (_, Some(ProfileKind::CredentialProcess)) => format!(
            "the credential_process of profile {profile} hands out expired credentials: run it by hand and renew the session it reads (or fix the Expiration it prints)"
        ),
        (_, Some(ProfileKind::AssumeRole)) => format!(
            "renew the credentials that profile {profile} assumes its role with (its source profile or credential source)"
        ),
        (Kind::Environment, _) => "export fresh AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN: the ones set have expired".into(),
        (Kind::WebIdentity, _) | (_, Some(ProfileKind::WebIdentity)) => {
            "the web identity token is stale: whatever writes the token file (the kubelet, a CI runner) must refresh it".into()
        }
        (Kind::Container | Kind::InstanceMetadata, _) => {
            "the credentials endpoint served expired credentials: check the agent serving them (ECS agent, EKS Pod Identity agent, instance metadata) and this machine's clock".into()
        }
        _ => "renew the credentials, then run doctor again".into(),
    }
}

fn credentials_failed(plan: &Plan, source: &Source, e: &Error) -> Check {
    let fix = match (e, source.kind, source.profile_kind) {
        (Error::Network { .. } | Error::TimedOut(..), _, _) => format!(
            "check DNS and the proxy (HTTPS_PROXY, NO_PROXY) on the way to the endpoint in the error; or raise AWS_ECR_TIMEOUT ({} s now)",
            secs(plan.cx.settings.timeout)
        ),
        (_, _, Some(ProfileKind::Sso | ProfileKind::Login)) => renew_hint(source),
        (_, _, Some(ProfileKind::Missing)) => {
            "define the profile in ~/.aws/config, or fix its name".into()
        }
        (Error::NoCredentials(_), Kind::None, _) => {
            "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, run `aws configure`, or attach a role".into()
        }
        (Error::AccessDenied { .. }, _, _) if plan.source.role_arn.is_some() => {
            "allow sts:AssumeRole on the role for these credentials, and trust them in the role's trust policy".into()
        }
        _ => "run `aws sts get-caller-identity` with the same environment to see the SDK's view"
            .into(),
    };
    Check::new(
        CheckId::Credentials,
        Status::Fail,
        format!("{}{}: {e}", source.summary, role_suffix(plan)),
    )
    .fix(fix)
}

/// STS `GetCallerIdentity` with the resolved credentials: whose they are. A failure is held
/// until the token check says whether it matters (see [`Reporter::release`]).
async fn caller_identity_step(
    plan: &Plan,
    sdk: &aws_config::SdkConfig,
    credentials: Option<aws_credential_types::Credentials>,
    source: &Source,
    r: &mut Reporter<'_>,
) -> Option<String> {
    let Some(credentials) = credentials else {
        r.emit(Check::new(
            CheckId::CallerIdentity,
            Status::Skip,
            "skipped: no credentials",
        ));
        return None;
    };
    let settings = &plan.cx.settings;
    // With a token check still to come, this one takes half the time left at most.
    let share = if plan.resolved.is_some() { 0.5 } else { 1.0 };
    let (limit, allowed) = step_limit(settings.deadline, share);
    let endpoint = sts_endpoint(settings, sdk);
    let timed_out = || {
        did_not_answer(
            CheckId::CallerIdentity,
            "STS GetCallerIdentity",
            &endpoint,
            allowed,
            STS_NETWORK_FIX,
            settings,
        )
    };
    r.start(timed_out());
    let started = Instant::now();
    let call = get_caller_identity(sdk, credentials, &endpoint);
    let check = match tokio::time::timeout_at(limit.into(), call).await {
        Err(_) => timed_out(),
        Ok(Ok(check)) => {
            let arn = check.details.get("arn").cloned();
            r.emit(check.with_time(started));
            return arn;
        }
        Ok(Err(Error::TimedOut(..))) => timed_out(),
        Ok(Err(e)) => caller_identity_failed(&e, &endpoint, source),
    };
    if plan.resolved.is_some() {
        r.hold(check);
    } else {
        r.emit(check);
    }
    None
}

const STS_NETWORK_FIX: &str = "check DNS and the proxy (HTTPS_PROXY, NO_PROXY) for it, or point AWS_ENDPOINT_URL_STS at an STS endpoint you can reach (a regional or VPC endpoint)";

async fn get_caller_identity(
    sdk: &aws_config::SdkConfig,
    creds: aws_credential_types::Credentials,
    endpoint: &str,
) -> Result<Check, Error> {
    let conf = aws_sdk_sts::config::Builder::from(sdk)
        .credentials_provider(creds)
        .build();
    let out = aws_sdk_sts::Client::from_conf(conf)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| sdk_errors::sdk_error(e, endpoint))?;
    let arn = out.arn().unwrap_or("(no ARN)").to_string();
    Ok(
        Check::new(CheckId::CallerIdentity, Status::Pass, arn.clone())
            .detail("arn", arn)
            .detail("account", out.account().unwrap_or("")),
    )
}

/// Where `GetCallerIdentity` goes, for messages: the override, else the regional endpoint.
fn sts_endpoint(settings: &Settings, sdk: &aws_config::SdkConfig) -> String {
    let configured = !settings.is_true("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
    let set = settings
        .nonempty("AWS_ENDPOINT_URL_STS")
        .or_else(|| settings.nonempty("AWS_ENDPOINT_URL"))
        .filter(|_| configured)
        .or(sdk.endpoint_url());
    if let Some(url) = set {
        return crate::util::redact::url(url);
    }
    let region = sdk.region().map(|r| r.as_ref()).unwrap_or("us-east-1");
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://sts.{region}.{suffix}")
}

/// Codes with which AWS says it does not know the credentials at all.
fn is_unknown_key(code: &str) -> bool {
    matches!(
        code,
        "UnrecognizedClientException"
            | "InvalidClientTokenId"
            | "InvalidSignatureException"
            | "SignatureDoesNotMatch"
    )
}

/// The message and fix for a failed `GetCallerIdentity`: what went wrong on the way (network)
/// is told apart from what AWS said about the credentials.
fn caller_identity_failed(e: &Error, endpoint: &str, source: &Source) -> Check {
    let (message, fix) = match e {
        Error::Network { message, .. } => (
            format!("could not reach STS at {endpoint}: {message}"),
            STS_NETWORK_FIX.to_string(),
        ),
        Error::AccessDenied { code, .. } if code.contains("Expired") => (
            format!("STS says these credentials have expired: {e}"),
            renew_hint(source),
        ),
        Error::AccessDenied { code, .. } if is_unknown_key(code) => (
            format!("STS does not accept these credentials: {e}"),
            "the credentials were found but AWS does not know them (a deleted or mistyped key, a key of another partition, or a wrong secret): refresh them".into(),
        ),
        Error::Throttled(_) => (
            format!("STS GetCallerIdentity: {e}"),
            "try again shortly".into(),
        ),
        _ => (
            format!("STS GetCallerIdentity at {endpoint} failed: {e}"),
            "see the error; AWS_ENDPOINT_URL_STS sets the STS endpoint".into(),
        ),
    };
    Check::new(CheckId::CallerIdentity, Status::Fail, message)
        .fix(fix)
        .detail("endpoint", endpoint)
}

/// What the token check needs besides the plan.
struct TokenStep<'a> {
    resolved: &'a Resolved,
    endpoint: &'a str,
    /// The caller's ARN, to name in an IAM fix.
    caller: Option<&'a str>,
    source: &'a Source,
}

/// `GetAuthorizationToken`, through the same code `get` runs, in the time left.
async fn token_step(plan: &Plan, step: &TokenStep<'_>, credentials_ok: bool, r: &mut Reporter<'_>) {
    if !credentials_ok {
        r.release(TokenOutcome::NotIssued);
        r.emit(
            Check::new(CheckId::Token, Status::Fail, "no token: no credentials")
                .fix("fix the credentials check above"),
        );
        return;
    }
    let cx = &plan.cx;
    let (limit, allowed) = step_limit(cx.settings.deadline, 1.0);
    r.start(token_timed_out(plan, step, allowed));
    let started = Instant::now();
    let fetch = fetch::fetch(
        &cx.settings,
        &cx.files,
        &plan.scope,
        &plan.source,
        cx.settings.deadline,
    );
    let check = match tokio::time::timeout_at(limit.into(), fetch).await {
        Err(_) => token_timed_out(plan, step, allowed),
        Ok(Ok(t)) => Check::new(
            CheckId::Token,
            Status::Pass,
            format!(
                "GetAuthorizationToken answered in {} ms: user {}, valid for {}{}",
                started.elapsed().as_millis(),
                t.username,
                hours_minutes(t.expires_at - cache::now()),
                forget_failure(plan)
            ),
        )
        .detail("username", t.username)
        .detail("expires_at", format!("{:.0}", t.expires_at)),
        Ok(Err(Error::TimedOut(..))) => token_timed_out(plan, step, started.elapsed()),
        Ok(Err(e)) => token_failed(&e, step),
    };
    r.release(if check.status == Status::Pass {
        TokenOutcome::Issued
    } else {
        TokenOutcome::NotIssued
    });
    r.emit(check);
}

/// A live check that succeeded clears the failure `get` remembers for this registry and
/// identity: the user has fixed the problem, and the next `get` must not be refused.
fn forget_failure(plan: &Plan) -> &'static str {
    let cx = &plan.cx;
    let key = cx.cache_key(&plan.scope, &plan.source);
    if cx.cache.slot(&key).failure.is_none() {
        return "";
    }
    match cx.cache.forget_failure(&key, cx.settings.deadline) {
        Ok(()) => "; the remembered failure is cleared, so the next get asks AWS",
        Err(_) => "; the remembered failure could not be cleared",
    }
}

fn service_name(step: &TokenStep<'_>) -> &'static str {
    match step.resolved.host.registry {
        Registry::Public { .. } => "ECR Public",
        Registry::Private(_) => "ECR",
    }
}

const ECR_NETWORK_FIX: &str = "check DNS, the proxy (HTTPS_PROXY, NO_PROXY) and routes to it; in a private VPC, an ECR API VPC endpoint and AWS_ENDPOINT_URL_ECR";

fn token_timed_out(plan: &Plan, step: &TokenStep<'_>, allowed: Duration) -> Check {
    did_not_answer(
        CheckId::Token,
        &format!("{} GetAuthorizationToken", service_name(step)),
        step.endpoint,
        allowed,
        ECR_NETWORK_FIX,
        &plan.cx.settings,
    )
}

/// The message and fix for a failed token call, by what failed.
fn token_failed(e: &Error, step: &TokenStep<'_>) -> Check {
    let who = step.caller.unwrap_or("these credentials");
    let public = matches!(step.resolved.host.registry, Registry::Public { .. });
    let (message, fix) = match e {
        Error::Network { message, .. } => (
            format!(
                "could not reach {} at {}: {message}",
                service_name(step),
                step.endpoint
            ),
            ECR_NETWORK_FIX.to_string(),
        ),
        Error::AccessDenied { code, .. } if code.contains("Expired") => {
            (e.to_string(), renew_hint(step.source))
        }
        Error::AccessDenied { code, .. } if is_unknown_key(code) => (
            e.to_string(),
            "AWS does not know these credentials (a deleted or mistyped key, a key of another partition, or a wrong secret): refresh them".into(),
        ),
        Error::AccessDenied { .. } if public => (
            e.to_string(),
            format!("allow ecr-public:GetAuthorizationToken and sts:GetServiceBearerToken for {who}"),
        ),
        Error::AccessDenied { .. } => (
            e.to_string(),
            format!(
                "allow ecr:GetAuthorizationToken for {who} (an IAM policy, e.g. AmazonEC2ContainerRegistryReadOnly); pulling from another account also needs that repository's policy to allow it"
            ),
        ),
        Error::Throttled(_) => (
            e.to_string(),
            "try again shortly; the cache keeps calls to one per region and identity every 6 hours".into(),
        ),
        Error::NoCredentials(_) | Error::Credentials(_) => {
            (e.to_string(), "fix the credentials check above".into())
        }
        _ => (
            e.to_string(),
            "see the error; AWS_ECR_LOG_LEVEL=debug shows each step of a get".into(),
        ),
    };
    Check::new(CheckId::Token, Status::Fail, message).fix(fix)
}

fn hours_minutes(secs: f64) -> String {
    let mins = (secs.max(0.0) / 60.0).round() as u64;
    format!("{}h{:02}m", mins / 60, mins % 60)
}

/// Where a cached entry stands, by the cache policy's own tests ([`cache::policy::Lifetime`]):
/// `get` serves a fresh one, serves and refreshes one due for refresh, and replaces one that
/// is no longer usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CacheState {
    Fresh,
    DueForRefresh,
    Expired,
}

impl CacheState {
    fn of(entry: &cache::Entry, now: f64) -> CacheState {
        if entry.is_fresh(now) {
            CacheState::Fresh
        } else if entry.is_usable(now) {
            CacheState::DueForRefresh
        } else {
            CacheState::Expired
        }
    }

    /// As the report (and its JSON `state` detail) names it.
    fn name(self) -> &'static str {
        match self {
            CacheState::Fresh => "fresh",
            CacheState::DueForRefresh => "due for refresh",
            CacheState::Expired => "expired",
        }
    }
}

fn cache_check(
    cx: &Context,
    host: &crate::host::registry::EcrHost,
    source: &CredentialSource,
) -> Check {
    let key = cx.cache_key(&host.token_scope(), source);
    let Some(path) = cx.cache.record_path(&key) else {
        return Check::new(
            CheckId::Cache,
            Status::Warn,
            "no cache (AWS_ECR_DISABLE_CACHE, or neither HOME nor AWS_ECR_CACHE_DIR): every pull calls AWS",
        )
        .fix("unset AWS_ECR_DISABLE_CACHE or set AWS_ECR_CACHE_DIR");
    };
    let path = path.display().to_string();
    let check = |status, message: String| {
        Check::new(CheckId::Cache, status, message)
            .detail("path", path.clone())
            .detail("key", key.clone())
    };
    let now = cache::now();
    let slot = cx.cache.slot(&key);
    if let Some(failure) = &slot.failure {
        let usable = slot.entry.as_ref().is_some_and(|e| e.is_usable(now));
        let retry_in = failure.retry_in(usable, now);
        return check(
            Status::Warn,
            format!(
                "{path}: a failure is remembered from {:.0} s ago ({}); get asks AWS again {}",
                (now - failure.at).max(0.0),
                failure.reason,
                if retry_in > 0.0 {
                    format!("in {:.0} s", retry_in.ceil())
                } else {
                    "now".to_string()
                }
            ),
        )
        .fix("the live checks below try now; when they pass, the remembered failure is cleared")
        .detail("failure_reason", failure.reason.clone())
        .detail("failure_at", format!("{:.0}", failure.at))
        .detail("retry_in", format!("{:.0}", retry_in.ceil()));
    }
    match slot.entry {
        None => check(
            Status::Pass,
            format!(
                "{path}: no entry for this registry and identity yet; the next get fetches one"
            ),
        ),
        Some(e) => {
            let state = CacheState::of(&e, now).name();
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
    let files = podman_files(settings);
    for file in &files {
        let Ok(Some(configure::ClientFile { doc, .. })) = configure::read_json_file(file) else {
            continue;
        };
        if let Some(check) = podman_route_check(&doc, file, host, fix) {
            return check;
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

/// The files podman reads, in its order.
fn podman_files(settings: &Settings) -> Vec<std::path::PathBuf> {
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
    files
}

/// The check when `file` decides where podman sends `host`; `None` when it does not know it.
fn podman_route_check(
    doc: &serde_json::Map<String, serde_json::Value>,
    file: &std::path::Path,
    host: &str,
    fix: &str,
) -> Option<Check> {
    let path = file.display().to_string();
    let check = match configure::route(doc, host) {
        Route::CredHelper(h) if h == configure::HELPER => Check::new(
            CheckId::PodmanConfig,
            Status::Pass,
            format!("{path}: credHelpers routes {host} to ecr-login"),
        ),
        Route::CredHelper(h) => Check::new(
            CheckId::PodmanConfig,
            Status::Warn,
            format!("{path}: credHelpers routes {host} to docker-credential-{h}"),
        )
        .fix(format!("{fix} --podman --force")),
        Route::Auths => Check::new(
            CheckId::PodmanConfig,
            Status::Warn,
            format!("{path}: a stored login for {host} comes first (podman login); it expires after 12 hours"),
        )
        .fix(format!("podman logout {host}")),
        _ => return None,
    };
    Some(check.detail("path", path))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn source(kind: Kind, profile_kind: Option<ProfileKind>) -> Source {
        Source {
            kind,
            profile_kind,
            profile: Some("dev".into()),
            summary: String::new(),
        }
    }

    #[test]
    fn renew_hints_follow_the_source() {
        let hint = |kind, pk| renew_hint(&source(kind, pk));
        assert_eq!(
            hint(Kind::Profile, Some(ProfileKind::Sso)),
            "run `aws sso login --profile dev`"
        );
        assert_eq!(
            hint(Kind::Profile, Some(ProfileKind::Login)),
            "run `aws login --profile dev`"
        );
        assert!(
            hint(Kind::Profile, Some(ProfileKind::CredentialProcess))
                .contains("credential_process of profile dev")
        );
        assert!(hint(Kind::Environment, None).contains("AWS_SESSION_TOKEN"));
        assert!(hint(Kind::Container, None).contains("clock"));
    }

    #[test]
    fn spans_in_the_largest_unit() {
        assert_eq!(ago(30.0), "30 seconds");
        assert_eq!(ago(600.0), "10 minutes");
        assert_eq!(ago(5.0 * 3600.0), "5 hours");
        assert_eq!(ago(218_712_502.0), "2531 days");
    }

    #[test]
    fn step_shares_stay_short_of_the_deadline() {
        let deadline = Instant::now() + Duration::from_secs(3);
        let (until, allowed) = step_limit(deadline, 0.5);
        assert!(until < deadline && allowed <= Duration::from_millis(1450));
        let (_, none) = step_limit(Instant::now(), 1.0);
        assert_eq!(none, Duration::ZERO);
    }
}
