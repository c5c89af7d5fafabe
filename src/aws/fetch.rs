//! The AWS calls: resolve credentials through the standard chain and call
//! `GetAuthorizationToken` on ECR or ECR Public.
//!
//! Only the cache-miss path comes here, so this is the only place that starts an async runtime
//! and loads the SDK configuration. Every step runs under one deadline: a `get` must never hang a
//! `docker pull`, whatever the network or a credential process does.

use crate::aws::aws_files::AwsFiles;
use crate::aws::credentials::{Base, CredentialSource};
use crate::aws::error::Error;
use crate::aws::sdk_errors::sdk_error;
use crate::cache::key::KeyHasher;
use crate::host::registry::{Service, TokenScope};
use crate::util::log::debug;
use crate::util::secret::Secret;
use crate::util::settings::Settings;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_sdk_ecr::config::interceptors::BeforeDeserializationInterceptorContextRef;
use aws_sdk_ecr::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_ecr::error::BoxError;
use base64::Engine;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A token as AWS issued it, decoded.
#[derive(Debug, Clone)]
pub(crate) struct Fetched {
    pub username: String,
    pub password: Secret,
    /// Unix seconds, by AWS's clock.
    pub expires_at: f64,
    /// AWS's clock when it answered (the response's `Date`), to judge `expires_at` by.
    pub server_time: Option<f64>,
    /// The caller's own registry in this region (private ECR only).
    pub proxy_endpoint: Option<String>,
}

/// Limits for one attempt, so retries fit in the overall deadline.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `work` on a fresh single-threaded runtime, bounded by `deadline`: the one place the
/// program starts an async runtime.
pub(crate) fn block_on<T>(
    deadline: Instant,
    what: &'static str,
    work: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Config(format!("cannot start the async runtime: {e}")))?;
    let budget = deadline.saturating_duration_since(Instant::now());
    let result = runtime.block_on(async {
        match tokio::time::timeout(budget, work).await {
            Ok(result) => result,
            Err(_) => Err(Error::TimedOut(Some(budget), what)),
        }
    });
    // A resolver thread stuck in getaddrinfo must not hold the process after the deadline.
    runtime.shutdown_background();
    result
}

/// What one fetch resolved, for the failure memory: credentials from a source we cannot see
/// into are compared with the ones AWS refused before.
#[derive(Debug, Default)]
pub(crate) struct Attempt {
    /// A hash of the credentials refused last time (see [`credentials_hash`]).
    pub refused_before: Option<String>,
    /// A hash of the credentials this fetch resolved.
    pub credentials: Option<String>,
    /// One attempt at the token call, no SDK retries: the caller retries by itself
    /// ([`crate::engine::token::Retries::Caller`]).
    pub single_try: bool,
}

/// SDK attempts per token call when the caller retries by itself ([`Attempt::single_try`]).
pub const CALLER_RETRY_ATTEMPTS: u32 = 1;

/// [`fetch_with`] on its own runtime, bounded by `deadline`.
pub(crate) fn fetch_blocking(
    settings: &Settings,
    files: &AwsFiles,
    scope: &TokenScope,
    source: &CredentialSource,
    deadline: Instant,
    attempt: &mut Attempt,
) -> Result<Fetched, Error> {
    block_on(
        deadline,
        "getting a token",
        fetch_with(settings, files, scope, source, deadline, attempt),
    )
}

/// Loads the SDK configuration for `scope`'s region the way the AWS CLI would, from the
/// profile and the file contents that keyed the cache.
///
/// For `doctor`, which reports rather than fails: when an input would make the SDK panic or
/// read without end (see [`check_inputs`]), the configuration it gets has none of them, and
/// credentials that fail with the problem's one line, so every check that needs them says why.
pub(crate) async fn load_config(
    settings: &Settings,
    files: &AwsFiles,
    scope: &TokenScope,
    source: &CredentialSource,
    deadline: Instant,
) -> SdkConfig {
    match checked_config(settings, files, scope, source, deadline).await {
        Ok(config) => config,
        Err(problem) => {
            let (loader, _) = loader(settings, files, scope, source, deadline);
            loader
                .retry_config(aws_config::retry::RetryConfig::standard())
                .credentials_provider(Refused(problem))
                .load()
                .await
        }
    }
}

/// The SDK configuration, or the one-line problem with an input that the SDK must not see.
async fn checked_config(
    settings: &Settings,
    files: &AwsFiles,
    scope: &TokenScope,
    source: &CredentialSource,
    deadline: Instant,
) -> Result<SdkConfig, String> {
    let (mut loader, profile) = loader(settings, files, scope, source, deadline);
    check_inputs(settings, files, &profile)?;
    if let Some(client) = http_client(settings, files, &profile)? {
        loader = loader.http_client(client);
    }
    Ok(loader.load().await)
}

/// The loader for `scope` under `source`, and the profile it reads.
fn loader(
    settings: &Settings,
    files: &AwsFiles,
    scope: &TokenScope,
    source: &CredentialSource,
    deadline: Instant,
) -> (aws_config::ConfigLoader, String) {
    let remaining = deadline.saturating_duration_since(Instant::now());
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT.min(remaining))
        .operation_attempt_timeout(ATTEMPT_TIMEOUT.min(remaining))
        .operation_timeout(remaining)
        .build();
    let region = source.sts_region.as_ref().unwrap_or(&scope.region);
    let (profile, _) = source.profile(settings);
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.clone()))
        .timeout_config(timeouts.clone())
        .profile_files(files.profile_files())
        .profile_name(&profile);
    if let Base::Profile(profile) = &source.base {
        // A profile chosen for this registry wins over the environment's keys: the default
        // chain would try AWS_ACCESS_KEY_ID first and never reach the profile.
        let provider_config = aws_config::provider_config::ProviderConfig::default()
            .with_region(Some(Region::new(region.clone())))
            .with_timeout_config(timeouts.clone());
        let credentials = aws_config::profile::ProfileFileCredentialsProvider::builder()
            .configure(&provider_config)
            .profile_files(files.profile_files())
            .profile_name(profile)
            .build();
        loader = loader.credentials_provider(credentials);
    }
    (loader, profile)
}

/// Credentials that cannot be had, and say why: what `doctor` gets when an input was refused.
#[derive(Debug)]
struct Refused(String);

impl aws_credential_types::provider::ProvideCredentials for Refused {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        aws_credential_types::provider::future::ProvideCredentials::ready(Err(
            aws_credential_types::provider::error::CredentialsError::invalid_configuration(
                self.0.clone(),
            ),
        ))
    }
}

/// The most of a token file that is read to check it: tokens are a few KiB.
const MAX_TOKEN_FILE: u64 = 1 << 20;

/// Inputs the SDK would panic on (the release build aborts) or read without end, refused with
/// one line that names the setting and the fix:
/// - a retry setting its loader cannot parse (`AWS_MAX_ATTEMPTS=0`, an unknown `retry_mode`):
///   the loader panics on those rather than return an error;
/// - a token file (web identity, container authorization) that is a FIFO (a read that waits
///   forever, past every timeout: the SDK reads it on the runtime's only thread) or a device (a
///   read that never ends, until memory runs out): the SDK reads the file whole, unbounded.
fn check_inputs(settings: &Settings, files: &AwsFiles, profile: &str) -> Result<(), String> {
    check_retry_settings(settings, files, profile)?;
    check_token_files(settings, files, profile)
}

/// The retry settings as the SDK's loader reads them: each from the environment, else from the
/// profile, parsed with the SDK's own rules.
fn check_retry_settings(
    settings: &Settings,
    files: &AwsFiles,
    profile: &str,
) -> Result<(), String> {
    let setting = |var: &'static str, key: &'static str| match settings.get(var) {
        Some(value) => Some((var.to_string(), value)),
        None => files
            .setting(profile, key)
            .map(|value| (format!("{key} (profile {profile:?})"), value)),
    };
    if let Some((name, value)) = setting("AWS_MAX_ATTEMPTS", "max_attempts")
        && !value.parse::<u32>().is_ok_and(|n| n > 0)
    {
        return Err(format!(
            "{name} = {value:?} is not a number of attempts; set a whole number from 1, or unset it"
        ));
    }
    if let Some((name, value)) = setting("AWS_RETRY_MODE", "retry_mode")
        && value.parse::<aws_config::retry::RetryMode>().is_err()
    {
        return Err(format!(
            "{name} = {value:?} is not a retry mode; set standard or adaptive, or unset it"
        ));
    }
    Ok(())
}

/// The token files the SDK may read whole: `AWS_WEB_IDENTITY_TOKEN_FILE` (with
/// `AWS_ROLE_ARN`), `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (with a container credentials
/// URI), and the `web_identity_token_file` of the profile or any profile its `source_profile`
/// chain reaches. A missing file is left to the SDK, which says so.
fn check_token_files(settings: &Settings, files: &AwsFiles, profile: &str) -> Result<(), String> {
    let check = |name: String, path: &str| {
        crate::util::files::read(
            std::path::Path::new(path),
            MAX_TOKEN_FILE,
            crate::util::files::Trust::Any,
        )
        .map(|_| ())
        .map_err(|e| format!("{}; a token is read from it", e.named(name)))
    };
    if settings.nonempty("AWS_ROLE_ARN").is_some()
        && let Some(path) = settings.nonempty("AWS_WEB_IDENTITY_TOKEN_FILE")
    {
        check("AWS_WEB_IDENTITY_TOKEN_FILE".into(), path)?;
    }
    let container = [
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    ];
    if container.iter().any(|v| settings.nonempty(v).is_some())
        && let Some(path) = settings.nonempty("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
    {
        check("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE".into(), path)?;
    }
    let mut visited: Vec<&str> = Vec::new();
    let mut next = Some(profile);
    while let Some(name) = next.take() {
        if visited.contains(&name) || visited.len() > 32 {
            break;
        }
        visited.push(name);
        if let Some(path) = files.setting(name, "web_identity_token_file") {
            check(format!("web_identity_token_file (profile {name:?})"), path)?;
        }
        next = files.setting(name, "source_profile");
    }
    Ok(())
}

/// The largest CA bundle read: system bundles are a few hundred KiB.
const MAX_CA_BUNDLE: u64 = 16 << 20;

/// An HTTPS client that also trusts `AWS_CA_BUNDLE` (or the profile's `ca_bundle`), as the AWS
/// CLI and the Go SDK do: behind a TLS-inspecting proxy, the proxy's CA. `None` for the SDK's
/// default client.
///
/// A bundle that is set but unusable (missing, not a file, not PEM, cut short, a certificate
/// that does not parse) fails the call with one line that names it, as the AWS CLI and the Go
/// SDK fail: it most likely means the proxy's CA is missing, which a TLS error about the
/// endpoint would not say, and skipping it would send the call out without the trust the user
/// asked for. It is checked here, with the parser and the trust store the SDK's TLS provider
/// uses, because that provider panics on what it cannot parse.
fn http_client(
    settings: &Settings,
    files: &AwsFiles,
    profile: &str,
) -> Result<Option<aws_sdk_ecr::config::SharedHttpClient>, String> {
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
    // Where the bundle was named, and how to undo that.
    let (origin, fix, path) = match settings.nonempty("AWS_CA_BUNDLE") {
        Some(path) => ("AWS_CA_BUNDLE=", "fix or unset it".to_string(), path),
        None => match files.setting(profile, "ca_bundle") {
            Some(path) if !path.is_empty() => (
                "ca_bundle = ",
                format!("fix it or remove ca_bundle from profile {profile:?}"),
                path,
            ),
            _ => return Ok(None),
        },
    };
    let path = settings.expand_home(path);
    let refuse = |why: String| format!("{origin}{}: {why}; {fix}", path.display());
    let pem = match crate::util::files::read(&path, MAX_CA_BUNDLE, crate::util::files::Trust::Any) {
        Ok(Some(pem)) => pem,
        Ok(None) => return Err(refuse("the file does not exist".into())),
        Err(crate::util::files::FileError::NotRegular { kind, .. }) => {
            return Err(refuse(format!("not a regular file ({kind})")));
        }
        Err(e) => return Err(refuse(e.to_string())),
    };
    let count = certificates_in(&pem)
        .map_err(|why| refuse(format!("not a PEM certificate bundle ({why})")))?;
    let context = TlsContext::builder()
        .with_trust_store(TrustStore::default().with_pem_certificate(pem))
        .build()
        .map_err(|e| refuse(e.to_string()))?;
    debug!(
        "trusting the CA bundle {} ({count} certificates) as well",
        path.display()
    );
    Ok(Some(
        aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::AwsLc,
            ))
            .tls_context(context)
            .build_https(),
    ))
}

/// How many certificates `pem` holds, each read as the SDK's rustls provider reads it (every
/// `CERTIFICATE` section decoded, each added to a root store); why not, when it would panic
/// there or holds none. Other sections (a key beside the CA) are skipped, as there.
fn certificates_in(pem: &[u8]) -> Result<usize, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::{Error as PemError, PemObject};
    let mut roots = rustls::RootCertStore::empty();
    for (n, cert) in CertificateDer::pem_slice_iter(pem).enumerate() {
        let cert = cert.map_err(|e| match e {
            PemError::MissingSectionEnd { .. } => "a section is cut short: no END line".to_string(),
            PemError::IllegalSectionStart { .. } => "a malformed BEGIN line".to_string(),
            PemError::Base64Decode(_) => format!("certificate {} is not valid base64", n + 1),
            other => other.to_string(),
        })?;
        roots
            .add(cert)
            .map_err(|e| format!("certificate {} does not parse: {e}", n + 1))?;
    }
    match roots.len() {
        0 => Err("no certificate in it".to_string()),
        count => Ok(count),
    }
}

/// True when an `AWS_ENDPOINT_URL*` override applies to this service: the SDK refuses an
/// override together with FIPS or dual-stack, and the override (a VPC endpoint) must win.
fn endpoint_overridden(settings: &Settings, scope: &TokenScope, config: &SdkConfig) -> bool {
    if settings.is_true("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS") {
        return false;
    }
    settings.nonempty(service_endpoint_var(scope)).is_some()
        || settings.nonempty("AWS_ENDPOINT_URL").is_some()
        || config.endpoint_url().is_some()
}

fn service_endpoint_var(scope: &TokenScope) -> &'static str {
    match scope.service {
        Service::Ecr => "AWS_ENDPOINT_URL_ECR",
        Service::EcrPublic => "AWS_ENDPOINT_URL_ECR_PUBLIC",
    }
}

/// AWS's clock, read from the `Date` header of the answer.
#[derive(Debug, Clone, Default)]
struct ServerClock(Arc<Mutex<Option<f64>>>);

impl ServerClock {
    fn get(&self) -> Option<f64> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Intercept for ServerClock {
    fn name(&self) -> &'static str {
        "ecr-login-server-clock"
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let date = context
            .response()
            .headers()
            .get("date")
            .and_then(|d| {
                aws_sdk_ecr::primitives::DateTime::from_str(
                    d,
                    aws_sdk_ecr::primitives::DateTimeFormat::HttpDate,
                )
                .ok()
            })
            .map(|d| d.as_secs_f64());
        if date.is_some() {
            *self.0.lock().unwrap_or_else(|e| e.into_inner()) = date;
        }
        Ok(())
    }
}

/// A hash of credentials AWS refused, to tell whether a source we cannot see into (a
/// `credential_process`) hands out the same ones again.
fn credentials_hash(credentials: &Credentials) -> String {
    let mut hash = KeyHasher::new();
    hash.feed("id", credentials.access_key_id());
    hash.feed("secret", credentials.secret_access_key());
    hash.feed("token", credentials.session_token().unwrap_or("\0none"));
    hash.finish()
}

/// Gets a token for `scope` with the selected credentials.
pub(crate) async fn fetch(
    settings: &Settings,
    files: &AwsFiles,
    scope: &TokenScope,
    source: &CredentialSource,
    deadline: Instant,
) -> Result<Fetched, Error> {
    fetch_with(
        settings,
        files,
        scope,
        source,
        deadline,
        &mut Attempt::default(),
    )
    .await
}

/// [`fetch`], noting in `attempt` which credentials it used, and refusing to ask AWS with the
/// very credentials it refused before.
pub(crate) async fn fetch_with(
    settings: &Settings,
    files: &AwsFiles,
    scope: &TokenScope,
    source: &CredentialSource,
    deadline: Instant,
    attempt: &mut Attempt,
) -> Result<Fetched, Error> {
    let started = Instant::now();
    let config = checked_config(settings, files, scope, source, deadline)
        .await
        .map_err(Error::Config)?;
    debug!("AWS configuration loaded in {:?}", started.elapsed());
    let credentials = source.resolve(settings, &config).await?;
    note_credentials(&credentials, attempt)?;
    let call = TokenCall::plan(settings, scope, &config, attempt.single_try);
    debug!("calling GetAuthorizationToken at {}", call.endpoint);
    let started = Instant::now();
    let clock = ServerClock::default();
    let answer = match scope.service {
        Service::Ecr => call.private(&config, credentials, clock.clone()).await?,
        Service::EcrPublic => call.public(&config, credentials, clock.clone()).await?,
    };
    debug!("GetAuthorizationToken answered in {:?}", started.elapsed());
    answer.decode(clock.get())
}

/// Notes in `attempt` which credentials this fetch uses; refuses credentials AWS refused last
/// time, since asking again with them can only fail the same way.
fn note_credentials(credentials: &Credentials, attempt: &mut Attempt) -> Result<(), Error> {
    let used = credentials_hash(credentials);
    if attempt.refused_before.as_deref() == Some(used.as_str()) {
        return Err(Error::Unchanged);
    }
    attempt.credentials = Some(used);
    Ok(())
}

/// One `GetAuthorizationToken` call as it will be made.
struct TokenCall {
    region: String,
    fips: bool,
    dual_stack: bool,
    /// Where the call goes, for messages.
    endpoint: String,
    /// The SDK's retries turned off when the caller retries by itself.
    retry: Option<aws_config::retry::RetryConfig>,
}

/// A client of ECR or ECR Public configured for one [`TokenCall`]: the two SDK crates'
/// builders are different types with the same methods, so one function cannot take both.
macro_rules! token_client {
    ($sdk:ident, $call:expr, $config:expr, $credentials:expr, $clock:expr) => {{
        let call = $call;
        let mut conf = $sdk::config::Builder::from($config)
            .region(Region::new(call.region.clone()))
            .credentials_provider($credentials)
            .use_fips(call.fips)
            .use_dual_stack(call.dual_stack)
            .interceptor($clock);
        if call.retry.is_some() {
            conf.set_retry_config(call.retry.clone());
        }
        $sdk::Client::from_conf(conf.build())
    }};
}

impl TokenCall {
    /// The host picks FIPS/dual-stack; AWS_USE_FIPS_ENDPOINT / AWS_USE_DUALSTACK_ENDPOINT (or
    /// the profile) can add them for private ECR; an endpoint override turns both off.
    fn plan(
        settings: &Settings,
        scope: &TokenScope,
        config: &SdkConfig,
        single_try: bool,
    ) -> TokenCall {
        let variants = !endpoint_overridden(settings, scope, config);
        let wants = |flag: Option<bool>| scope.service == Service::Ecr && flag == Some(true);
        let fips = variants && (scope.fips || wants(config.use_fips()));
        let dual_stack = variants && (scope.dual_stack || wants(config.use_dual_stack()));
        let effective = TokenScope {
            fips,
            dual_stack,
            ..scope.clone()
        };
        let retry = single_try.then(|| {
            aws_config::retry::RetryConfig::standard().with_max_attempts(CALLER_RETRY_ATTEMPTS)
        });
        TokenCall {
            region: scope.region.clone(),
            fips,
            dual_stack,
            endpoint: describe_endpoint(settings, &effective, variants),
            retry,
        }
    }

    /// ECR Public's call: one token for the whole service, no proxy endpoint.
    async fn public(
        &self,
        config: &SdkConfig,
        credentials: Credentials,
        clock: ServerClock,
    ) -> Result<IssuedToken, Error> {
        let out = token_client!(aws_sdk_ecrpublic, self, config, credentials, clock)
            .get_authorization_token()
            .send()
            .await
            .map_err(|e| sdk_error(e, &self.endpoint))?;
        let data = out
            .authorization_data
            .ok_or(Error::BadToken("no authorizationData"))?;
        Ok(IssuedToken {
            token: data.authorization_token,
            expires_at: data.expires_at,
            proxy_endpoint: None,
        })
    }

    /// Private ECR's call: the first (only) authorization data, with the caller's registry.
    async fn private(
        &self,
        config: &SdkConfig,
        credentials: Credentials,
        clock: ServerClock,
    ) -> Result<IssuedToken, Error> {
        let out = token_client!(aws_sdk_ecr, self, config, credentials, clock)
            .get_authorization_token()
            .send()
            .await
            .map_err(|e| sdk_error(e, &self.endpoint))?;
        let data = out
            .authorization_data
            .and_then(|d| d.into_iter().next())
            .ok_or(Error::BadToken("no authorizationData"))?;
        Ok(IssuedToken {
            token: data.authorization_token,
            expires_at: data.expires_at,
            proxy_endpoint: data.proxy_endpoint,
        })
    }
}

/// The answer's fields as either service gives them, before they are checked.
struct IssuedToken {
    token: Option<String>,
    expires_at: Option<aws_sdk_ecr::primitives::DateTime>,
    proxy_endpoint: Option<String>,
}

impl IssuedToken {
    /// The token decoded, with AWS's clock when it answered: a missing field is a bad token.
    fn decode(self, server_time: Option<f64>) -> Result<Fetched, Error> {
        let token = self.token.ok_or(Error::BadToken("no authorizationToken"))?;
        let expires_at = self
            .expires_at
            .map(|t| t.as_secs_f64())
            .ok_or(Error::BadToken("no expiresAt"))?;
        let (username, password) = decode_token(&token)?;
        Ok(Fetched {
            username,
            password,
            expires_at,
            server_time,
            proxy_endpoint: self.proxy_endpoint,
        })
    }
}

/// The endpoint `fetch` calls for `scope` under `config`, for `doctor`.
pub(crate) fn endpoint_for(settings: &Settings, scope: &TokenScope, config: &SdkConfig) -> String {
    describe_endpoint(
        settings,
        scope,
        !endpoint_overridden(settings, scope, config),
    )
}

/// Where the call goes, for messages: an override's userinfo and query are redacted.
fn describe_endpoint(settings: &Settings, scope: &TokenScope, variants: bool) -> String {
    if !variants {
        return match [service_endpoint_var(scope), "AWS_ENDPOINT_URL"]
            .iter()
            .find_map(|v| settings.nonempty(v))
        {
            Some(url) => crate::util::redact::url(url),
            None => "the configured endpoint_url".into(),
        };
    }
    scope.default_endpoint()
}

/// `base64("AWS:<password>")` to its parts. Anything else is an error, never a panic.
pub(crate) fn decode_token(token: &str) -> Result<(String, Secret), Error> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .map_err(|_| Error::BadToken("not base64"))?;
    let text = String::from_utf8(bytes).map_err(|_| Error::BadToken("not UTF-8"))?;
    let (user, password) = text
        .split_once(':')
        .ok_or(Error::BadToken("no user:password separator"))?;
    if user.is_empty() || password.is_empty() {
        return Err(Error::BadToken("empty user or password"));
    }
    Ok((user.to_string(), Secret::new(password)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_tokens() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let (user, pw) = decode_token(&b64("AWS:pass:with:colons")).unwrap();
        assert_eq!(user, "AWS");
        assert_eq!(pw.expose(), "pass:with:colons");
        for bad in [
            "%%%".to_string(),
            b64("nocolon"),
            b64(":pw"),
            b64("AWS:"),
            String::new(),
        ] {
            assert!(
                matches!(decode_token(&bad), Err(Error::BadToken(_))),
                "{bad}"
            );
        }
        let not_utf8 = base64::engine::general_purpose::STANDARD.encode([0xff, 0xfe, b':', b'x']);
        assert!(decode_token(&not_utf8).is_err());
    }
}
