//! The docker-credential-helper protocol: one action argument, stdin in, stdout out.
//!
//! Every failure of `get` answers Docker's "not found" text, so that Docker goes on anonymously
//! (right for public images, and for non-ECR registries when we are the `credsStore`), and says
//! why on stderr, which Docker shows to the user. The one exception is an empty server URL,
//! which the protocol itself answers (`no credentials server URL`, exit 1), as every helper
//! built on docker-credential-helpers does. Nothing but the protocol's answer goes to stdout.

use crate::app::exit::Exit;
use crate::app::program::{LONG_VERSION, NAME};
use crate::aws::credentials::CredentialSource;
use crate::aws::error::Error;
use crate::cache;
use crate::engine::context::Context;
use crate::engine::resolve;
use crate::engine::token;
use crate::host::registry::{self, EcrHost, HostError, Registry};
use crate::util::files::{self, Trust};
use crate::util::log::{debug, error, warning};
use crate::util::redact::quote;
use crate::util::settings::Settings;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{Read, Write};

/// The exact text Docker takes as "no credentials for this registry".
pub(crate) const NOT_FOUND: &str = "credentials not found in native keychain";

/// The protocol's answer to an empty server URL (docker-credential-helpers'
/// `ErrCredentialsMissingServerURL`), for `get`, `store` and `erase` alike.
pub(crate) const NO_SERVER_URL: &str = "no credentials server URL";

/// The most we read from stdin: a server URL is far shorter, a `store` payload a few KiB.
pub(crate) const MAX_INPUT: usize = 64 * 1024;

#[derive(Serialize)]
struct Credentials<'a> {
    #[serde(rename = "ServerURL")]
    server_url: &'a str,
    #[serde(rename = "Username")]
    username: &'a str,
    #[serde(rename = "Secret")]
    secret: &'a str,
}

/// The protocol's actions: the one argument a client passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Get,
    List,
    Store,
    Erase,
    Version,
}

impl Action {
    pub(crate) fn parse(arg: &str) -> Option<Action> {
        Some(match arg {
            "get" => Action::Get,
            "list" => Action::List,
            "store" => Action::Store,
            "erase" => Action::Erase,
            "version" => Action::Version,
            _ => return None,
        })
    }
}

/// Why an action gives no answer. [`fail`] tells each one, once.
#[derive(Debug)]
enum Refusal {
    /// `get` has no token to give: Docker's "not found", with the reason on stderr unless the
    /// host simply is not ECR.
    NotFound(Option<String>),
    /// The protocol's own failure (`store`, an empty server URL): the reason is the answer.
    Refused(String),
    /// The answer could not be written: the lost stdout is told by
    /// [`crate::app::process::finish`].
    Unwritten,
}

/// Said at once when `get` reads from a terminal, where it would otherwise wait silently.
const TERMINAL_HINT: &str = "reading the registry host from stdin; type it and press Ctrl-D, or pipe it: echo HOST | docker-credential-ecr-login get";

/// Runs one of the protocol's actions.
pub(crate) fn run(settings: Settings, action: Action) -> Exit {
    let mut stdout = crate::app::process::stdout();
    // Standard input is bounded by the same deadline as the whole call: a client that never
    // closes the pipe gets an answer instead of a hung helper.
    let stdin = &mut crate::util::input::Stdin::until(settings.deadline);
    let result = match action {
        Action::Get => {
            // SAFETY: isatty has no preconditions. One call: clients always send a pipe.
            if unsafe { libc::isatty(0) } == 1 {
                crate::util::log::print(
                    crate::util::log::Level::Info,
                    format_args!("{TERMINAL_HINT}"),
                );
            }
            get(settings, stdin, &mut stdout)
        }
        Action::List => list(settings, &mut stdout),
        Action::Store => store(&settings, stdin),
        Action::Erase => erase(&settings, stdin),
        Action::Version => {
            let _ = writeln!(stdout, "{NAME} (ecr-login) {LONG_VERSION}");
            Ok(())
        }
    };
    let exit = match result {
        Ok(()) => Exit::Ok,
        Err(refusal) => fail(&mut stdout, refusal),
    };
    crate::app::process::finish(stdout, exit)
}

/// The one place an action's failure is told: the protocol's answer on stdout, and for `get`
/// the reason on stderr (or the log file).
fn fail(out: &mut dyn Write, refusal: Refusal) -> Exit {
    match refusal {
        Refusal::NotFound(why) => {
            if let Some(why) = why {
                error!("{why}");
            }
            let _ = write!(out, "{NOT_FOUND}");
            let _ = out.flush();
        }
        // One line: the client shows it as the error.
        Refusal::Refused(why) => {
            let _ = writeln!(out, "{}", why.replace(['\n', '\r'], " "));
        }
        Refusal::Unwritten => {}
    }
    Exit::Failed
}

/// Reads at most `MAX_INPUT` bytes; more is an error, not something to wait for.
pub(crate) fn read_input(input: &mut dyn Read) -> Result<Vec<u8>, String> {
    crate::util::input::read_bounded(input, MAX_INPUT).map_err(|e| e.to_string())
}

/// `get`: the server URL on stdin, the credentials as JSON on stdout.
fn get(settings: Settings, input: &mut dyn Read, out: &mut dyn Write) -> Result<(), Refusal> {
    let raw = read_input(input).map_err(not_found)?;
    let Ok(text) = std::str::from_utf8(&raw) else {
        return Err(not_found("the server URL is not valid UTF-8"));
    };
    let server_url = text.trim();
    if server_url.is_empty() {
        return Err(Refusal::Refused(NO_SERVER_URL.into()));
    }
    let (host, source) = match resolve::resolve(&settings, server_url) {
        Ok(resolved) => resolved,
        Err(Error::Host(HostError::NotEcr(_))) => return Err(Refusal::NotFound(None)),
        Err(Error::Host(HostError::Malformed(why))) => {
            return Err(not_found(format!("{why}: {}", quote(server_url))));
        }
        Err(e) => return Err(not_found(e)),
    };
    let cx = Context::load(settings).map_err(|e| not_found(format!("{}: {e}", host.host)))?;
    let token = token::token_for(&cx, &host, &source)
        .map_err(|e| not_found(format!("{}: {e}", host.host)))?;
    let answer = Credentials {
        server_url,
        username: &token.username,
        secret: token.password.expose(),
    };
    // The answer and its newline in one write (one system call).
    let line = serde_json::to_string(&answer).map(|mut json| {
        json.push('\n');
        json
    });
    let written = match line {
        Ok(line)
            if out
                .write_all(line.as_bytes())
                .and_then(|_| out.flush())
                .is_ok() =>
        {
            Ok(())
        }
        _ => Err(Refusal::Unwritten),
    };
    if token.refresh_due {
        crate::app::refresh::start("get", server_url.as_bytes());
    }
    written
}

/// Docker's "not found", and why.
fn not_found(why: impl ToString) -> Refusal {
    Refusal::NotFound(Some(why.to_string()))
}

/// The username of every ECR token.
const ECR_USER: &str = "AWS";

/// The most of Docker's `config.json` that `list` reads: real ones are a few KiB.
const MAX_DOCKER_CONFIG: u64 = 4 << 20;

/// `list`: what the legacy builder, the Docker SDK for Python and docker-compose v1 hand to a
/// build. They `get` only the registries listed here, so a registry left out gets no
/// credentials in their builds (`no basic auth credentials`). Listed: the registries whose
/// tokens are cached, and those Docker's config routes to us with `credHelpers`; when that is
/// nothing (a cold cache, only `credsStore`), the caller's default registry and
/// `public.ecr.aws` are fetched, as the Go helper does, and from then on come from the cache.
/// A warm cache costs no AWS call. Failures never fail the `list`: those clients abort the
/// whole build when it fails.
fn list(settings: Settings, out: &mut dyn Write) -> Result<(), Refusal> {
    let mut registries = BTreeMap::new();
    match Context::load(settings) {
        Ok(cx) => {
            registries = cached_registries(&cx);
            registries.extend(routed_registries(&cx.settings));
            if registries.is_empty() {
                registries.extend(default_registries(&cx));
            }
        }
        Err(e) => warning!("list: {e}"),
    }
    match serde_json::to_string(&registries) {
        Ok(json) if writeln!(out, "{json}").is_ok() => Ok(()),
        _ => Err(Refusal::Unwritten),
    }
}

/// The registries of the current identity's unexpired cache entries.
fn cached_registries(cx: &Context) -> BTreeMap<String, String> {
    let mut registries = BTreeMap::new();
    let prefix = format!("{}/", cx.identity_key(&CredentialSource::default_chain()));
    let now = cache::now();
    for (_, entry) in cx.cache.entries_with_prefix(&prefix) {
        if !entry.is_usable(now) {
            continue;
        }
        // Only hosts `get` would answer: not mirrors the kubelet served from this token, nor
        // the placeholder `default_registries` fetches under.
        let served = entry.hosts.iter().filter_map(|h| {
            resolve::resolve(&cx.settings, h)
                .ok()
                .map(|(host, _)| host.url())
        });
        let named = entry.proxy_endpoint.as_deref().and_then(proxy_registry);
        for url in served.chain(named) {
            registries.insert(url, entry.username.clone());
        }
    }
    registries
}

/// The ECR registry named by a token's `proxyEndpoint`, when it is one.
fn proxy_registry(endpoint: &str) -> Option<String> {
    registry::parse_server_url(endpoint).ok().map(|h| h.url())
}

/// The ECR registries (and registry-config aliases) that Docker's config routes to ecr-login
/// with `credHelpers`. A config Docker could read is one we can read; anything odd about it is
/// reported and skipped, never waited on (a FIFO) or read without bound.
fn routed_registries(settings: &Settings) -> BTreeMap<String, String> {
    let mut registries = BTreeMap::new();
    let Ok(location) =
        crate::app::client_config::location(settings, crate::app::client_config::Client::Docker)
    else {
        return registries;
    };
    let Some(doc) = read_docker_config(&location.path) else {
        return registries;
    };
    let Some(helpers) = doc.get("credHelpers").and_then(|v| v.as_object()) else {
        return registries;
    };
    for (key, helper) in helpers {
        if helper.as_str() != Some(crate::app::client_config::HELPER) {
            continue;
        }
        if let Ok((host, _)) = resolve::resolve(settings, key) {
            let url = match host.port {
                // The port stays: Docker matches `host:443/app` against `host:443` only.
                Some(port) => format!("{}:{port}", host.url()),
                None => host.url(),
            };
            registries.insert(url, ECR_USER.to_string());
        }
    }
    registries
}

fn read_docker_config(path: &std::path::Path) -> Option<serde_json::Value> {
    let bytes = match files::read(path, MAX_DOCKER_CONFIG, Trust::Any) {
        Ok(bytes) => bytes?,
        Err(e) => {
            warning!("list: ignoring {e}");
            return None;
        }
    };
    // An empty file (`/dev/null` among them) is no config, as the Docker CLI reads it.
    if bytes.trim_ascii().is_empty() {
        return None;
    }
    match serde_json::from_slice(&bytes) {
        Ok(doc) => Some(doc),
        Err(e) => {
            warning!("list: ignoring {}: not JSON: {e}", path.display());
            None
        }
    }
}

/// The caller's default private registry (named by the token AWS issues in the configured
/// region) and `public.ecr.aws`, each fetched through the cache, in parallel.
fn default_registries(cx: &Context) -> BTreeMap<String, String> {
    let mut hosts = Vec::new();
    match crate::engine::context::default_region(cx) {
        Some(region) => match EcrHost::for_region(&cx.settings, &region) {
            Some(host) => hosts.push(host),
            None => warning!("list: {region:?} (the configured region) is not an AWS region"),
        },
        None => debug!("list: no region configured; only public.ecr.aws is fetched"),
    }
    if let Ok(public) = registry::parse_server_url(registry::PUBLIC_HOST) {
        hosts.push(public);
    }
    let source = CredentialSource::default_chain();
    let tokens: Vec<_> = std::thread::scope(|scope| {
        let running: Vec<_> = hosts
            .iter()
            .map(|host| (host, scope.spawn(|| token::token_for(cx, host, &source))))
            .collect();
        running
            .into_iter()
            .map(|(host, handle)| (host, handle.join()))
            .collect()
    });
    let mut registries = BTreeMap::new();
    for (host, result) in tokens {
        let url = match &host.registry {
            Registry::Public { .. } => Some(host.url()),
            Registry::Private(_) => None,
        };
        match result {
            Ok(Ok(token)) => {
                let url = url.or_else(|| token.proxy_endpoint.as_deref().and_then(proxy_registry));
                if let Some(url) = url {
                    registries.insert(url, token.username);
                }
            }
            // No credentials at all: ECR is not in use here, and a warning on every build of
            // a `credsStore` user would be noise.
            Ok(Err(e @ Error::NoCredentials(_))) => debug!("list: {}: {e}", host.host),
            Ok(Err(e)) => warning!("list: {}: {e}", host.host),
            Err(_) => warning!("list: {}: the token fetch failed", host.host),
        }
    }
    registries
}

/// Whether `server_url` names an ECR registry, or an `[[alias]]` of one: its bare host then,
/// `None` when it names another registry. An ECR host needs no registry config to be known as
/// one, so a broken config only matters for hosts that could be aliases.
fn login_host(settings: &Settings, server_url: &str) -> Result<Option<String>, Error> {
    match registry::parse_server_url(server_url) {
        Ok(host) => Ok(Some(host.host)),
        Err(HostError::NotEcr(_)) => match resolve::resolve(settings, server_url) {
            Ok((host, _)) => Ok(Some(host.host)),
            Err(e) if e.is_not_ecr() => Ok(None),
            Err(e) => Err(e),
        },
        Err(e) => Err(e.into()),
    }
}

/// `store` and `erase`, which `docker login` and `docker logout` call.
///
/// ECR tokens are minted from AWS credentials, so a password handed to `store` is not kept:
/// for an ECR host (or alias) both succeed and say so on stderr (`erase` only for the
/// `https://` spelling, the one of Docker's four a logout sees once), and the user's login (as
/// the AWS docs write it, `aws ecr get-login-password | docker login ...`) goes through.
///
/// `store` for any other host fails, naming the fix: only a `credsStore` sends it here, and
/// succeeding would tell the user their credentials were saved when they were not.
///
/// `erase` for any other host succeeds silently. We hold no credentials for it, so what a
/// logout asks for is already true. `docker logout` calls `erase` for several spellings of
/// the address and, when every one fails, prints a warning and skips removing the entry that
/// an earlier login without a helper may have left in `config.json`'s `auths`; succeeding lets
/// it remove that entry, which is what the user asked for.
///
/// `AWS_ECR_IGNORE_CREDS_STORAGE=true` (the Go helper's switch) makes both silent no-ops for
/// every host. An empty server URL is refused before that, as the protocol library refuses it
/// before the Go helper is asked.
fn store(settings: &Settings, input: &mut dyn Read) -> Result<(), Refusal> {
    let raw = read_input(input).map_err(Refusal::Refused)?;
    let request = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&raw)
        .map_err(|e| Refusal::Refused(format!("the store request is not a JSON object: {e}")))?;
    let server_url = request
        .get("ServerURL")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    let Some(server_url) = login_server_url(settings, server_url)? else {
        return Ok(());
    };
    match login_host(settings, server_url) {
        Ok(Some(host)) => {
            warning!(
                "docker login {host}: the password is not kept: ecr-login mints ECR tokens from your AWS credentials for every pull and push, so no login is needed"
            );
            Ok(())
        }
        Ok(None) => {
            let host = match registry::parse_server_url(server_url) {
                Err(HostError::NotEcr(name)) => name,
                _ => quote(server_url),
            };
            Err(Refusal::Refused(format!(
                "ecr-login cannot save credentials for {host}: it keeps no passwords and only gets Amazon ECR tokens from AWS. Route your ECR registries to it with \"credHelpers\" instead of \"credsStore\" in Docker's config.json (docker-credential-ecr-login configure --registry <ECR registry>), so that docker login can save other registries' credentials"
            )))
        }
        Err(Error::Host(HostError::Malformed(why))) => {
            Err(Refusal::Refused(format!("{why}: {}", quote(server_url))))
        }
        Err(e) => Err(Refusal::Refused(e.to_string())),
    }
}

/// `erase`, which `docker logout` calls (see [`store`] for why it succeeds).
fn erase(settings: &Settings, input: &mut dyn Read) -> Result<(), Refusal> {
    let raw = read_input(input).map_err(Refusal::Refused)?;
    let server_url = String::from_utf8_lossy(&raw);
    let Some(server_url) = login_server_url(settings, &server_url)? else {
        return Ok(());
    };
    // `docker logout` erases `host` twice, `http://host` and `https://host`: the note comes
    // once, with the last of them, rather than four times.
    if let Ok(Some(host)) = login_host(settings, server_url)
        && has_scheme(server_url, "https")
    {
        warning!(
            "docker logout {host}: nothing to erase: ecr-login keeps no password; it mints ECR tokens from your AWS credentials while they are valid"
        );
    }
    Ok(())
}

/// The server URL of a `store` or `erase`, trimmed; `None` when the helper's own switch makes
/// the action a no-op. An empty one is refused before that switch is read, as the protocol
/// library refuses it before the Go helper is asked.
fn login_server_url<'a>(
    settings: &Settings,
    server_url: &'a str,
) -> Result<Option<&'a str>, Refusal> {
    let server_url = server_url.trim();
    if server_url.is_empty() {
        return Err(Refusal::Refused(NO_SERVER_URL.into()));
    }
    if settings.get("AWS_ECR_IGNORE_CREDS_STORAGE") == Some("true") {
        return Ok(None);
    }
    Ok(Some(server_url))
}

fn has_scheme(server_url: &str, scheme: &str) -> bool {
    server_url
        .split_once("://")
        .is_some_and(|(s, _)| s.eq_ignore_ascii_case(scheme))
}
