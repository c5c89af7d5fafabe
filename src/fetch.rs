//! The AWS calls: resolve credentials through the standard chain and call
//! `GetAuthorizationToken` on ECR or ECR Public.
//!
//! Only the cache-miss path comes here, so this is the only place that starts an async runtime
//! and loads the SDK configuration. Every step runs under one deadline: a `get` must never hang a
//! `docker pull`, whatever the network or a credential process does.

use crate::error::Error;
use crate::log::debug;
use crate::registry::TokenScope;
use crate::secret::Secret;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ecr::config::{Credentials, ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use base64::Engine;
use std::time::{Duration, Instant};

/// Which credentials to use, beyond the default chain.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// A named profile instead of `AWS_PROFILE`/`default`.
    pub profile: Option<String>,
    /// A role assumed with STS `AssumeRole` from the selected credentials.
    pub role_arn: Option<String>,
    /// Credentials already resolved by the caller (the kubelet's per-pod web identity role).
    pub credentials: Option<Credentials>,
    /// A role assumed with a web identity token, on a cache miss only (the kubelet's per-pod
    /// role): the STS call then runs under the fetch's deadline.
    pub web_identity: Option<crate::web_identity::WebIdentity>,
    /// The region in which credentials are resolved and the role assumed, when it must differ
    /// from the registry's (an STS endpoint the account has enabled); tokens always come from
    /// the registry's own region.
    pub region: Option<String>,
}

/// A token as AWS issued it, decoded.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub username: String,
    pub password: Secret,
    /// Unix seconds.
    pub expires_at: f64,
    /// The registry URL AWS named with a private token (`https://<account>.dkr.ecr...`): the
    /// caller's default registry, which `list` shows on a cold cache. ECR Public names none.
    pub proxy_endpoint: Option<String>,
}

/// Limits for one attempt, so retries fit in the overall deadline.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs [`fetch`] on a fresh single-threaded runtime, bounded by `deadline`.
pub fn fetch_blocking(
    scope: &TokenScope,
    selection: &Selection,
    deadline: Instant,
) -> Result<Fetched, Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Config(format!("cannot start the async runtime: {e}")))?;
    let budget = deadline.saturating_duration_since(Instant::now());
    let result = runtime.block_on(async {
        match tokio::time::timeout(budget, fetch(scope, selection, deadline)).await {
            Ok(result) => result,
            Err(_) => Err(Error::TimedOut(Some(budget), "getting a token")),
        }
    });
    // A resolver thread stuck in getaddrinfo must not hold the process after the deadline.
    runtime.shutdown_background();
    result
}

/// Loads the SDK configuration for `scope`'s region the way the AWS CLI would.
pub async fn load_config(
    scope: &TokenScope,
    selection: &Selection,
    deadline: Instant,
) -> SdkConfig {
    let remaining = deadline.saturating_duration_since(Instant::now());
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT.min(remaining))
        .operation_attempt_timeout(ATTEMPT_TIMEOUT.min(remaining))
        .operation_timeout(remaining)
        .build();
    let region = selection.region.as_ref().unwrap_or(&scope.region);
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.clone()))
        .timeout_config(timeouts.clone());
    if let Some(profile) = &selection.profile {
        // A profile chosen for this registry wins over the environment's keys: the default
        // chain would try AWS_ACCESS_KEY_ID first and never reach the profile.
        let provider_config = aws_config::provider_config::ProviderConfig::default()
            .with_region(Some(Region::new(region.clone())))
            .with_timeout_config(timeouts.clone());
        let credentials = aws_config::profile::ProfileFileCredentialsProvider::builder()
            .configure(&provider_config)
            .profile_name(profile)
            .build();
        loader = loader
            .profile_name(profile)
            .credentials_provider(credentials);
    }
    loader.load().await
}

/// True when an `AWS_ENDPOINT_URL*` override applies to this service: the SDK refuses an
/// override together with FIPS or dual-stack, and the override (a VPC endpoint) must win.
fn endpoint_overridden(scope: &TokenScope, config: &SdkConfig) -> bool {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if std::env::var("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .is_ok_and(|v| v.eq_ignore_ascii_case("true"))
    {
        return false;
    }
    let service_var = if scope.public {
        "AWS_ENDPOINT_URL_ECR_PUBLIC"
    } else {
        "AWS_ENDPOINT_URL_ECR"
    };
    set(service_var) || set("AWS_ENDPOINT_URL") || config.endpoint_url().is_some()
}

/// Resolves credentials once, explicitly, so that a missing or broken credential source is
/// reported as such rather than as an opaque dispatch failure.
pub async fn resolve_credentials(
    config: &SdkConfig,
    selection: &Selection,
) -> Result<Credentials, Error> {
    if let Some(creds) = &selection.credentials {
        return Ok(creds.clone());
    }
    if let Some(web_identity) = &selection.web_identity {
        return crate::web_identity::assume(config, web_identity).await;
    }
    let started = Instant::now();
    let provider = config
        .credentials_provider()
        .ok_or_else(|| Error::NoCredentials("no credential provider is configured".into()))?;
    let base = provider
        .provide_credentials()
        .await
        .map_err(credentials_error)?;
    debug!("credentials resolved in {:?}", started.elapsed());
    let Some(role_arn) = &selection.role_arn else {
        return Ok(base);
    };
    let started = Instant::now();
    let assumed = aws_config::sts::AssumeRoleProvider::builder(role_arn)
        .session_name("ecr-login")
        .configure(config)
        .build_from_provider(SharedCredentialsProvider::new(base))
        .await
        .provide_credentials()
        .await
        .map_err(credentials_error)?;
    debug!("assumed {role_arn} in {:?}", started.elapsed());
    Ok(assumed)
}

fn credentials_error(e: aws_credential_types::provider::error::CredentialsError) -> Error {
    use aws_credential_types::provider::error::CredentialsError as E;
    let detail = error_chain(&e);
    match e {
        E::CredentialsNotLoaded(_) => Error::NoCredentials(detail),
        E::ProviderTimedOut(_) => Error::TimedOut(None, "loading AWS credentials"),
        _ => Error::Credentials(detail),
    }
}

/// Gets a token for `scope` with the selected credentials.
pub async fn fetch(
    scope: &TokenScope,
    selection: &Selection,
    deadline: Instant,
) -> Result<Fetched, Error> {
    let started = Instant::now();
    let config = load_config(scope, selection, deadline).await;
    debug!("AWS configuration loaded in {:?}", started.elapsed());
    let credentials = resolve_credentials(&config, selection).await?;
    // The host picks FIPS/dual-stack; AWS_USE_FIPS_ENDPOINT / AWS_USE_DUALSTACK_ENDPOINT (or the
    // profile) can add them for private ECR; an endpoint override turns both off.
    let variants = !endpoint_overridden(scope, &config);
    let wants = |flag: Option<bool>| !scope.public && flag == Some(true);
    let fips = variants && (scope.fips || wants(config.use_fips()));
    let dual_stack = variants && (scope.dual_stack || wants(config.use_dual_stack()));
    let effective = TokenScope {
        fips,
        dual_stack,
        ..scope.clone()
    };
    let endpoint = describe_endpoint(&effective, variants);
    debug!("calling GetAuthorizationToken at {endpoint}");
    let started = Instant::now();
    let (token, expires_at, proxy_endpoint) = if scope.public {
        let conf = aws_sdk_ecrpublic::config::Builder::from(&config)
            .region(Region::new(scope.region.clone()))
            .credentials_provider(credentials)
            .use_fips(fips)
            .use_dual_stack(dual_stack)
            .build();
        let out = aws_sdk_ecrpublic::Client::from_conf(conf)
            .get_authorization_token()
            .send()
            .await
            .map_err(|e| sdk_error(e, &endpoint))?;
        let data = out
            .authorization_data
            .ok_or(Error::BadToken("no authorizationData"))?;
        (data.authorization_token, data.expires_at, None)
    } else {
        let conf = aws_sdk_ecr::config::Builder::from(&config)
            .region(Region::new(scope.region.clone()))
            .credentials_provider(credentials)
            .use_fips(fips)
            .use_dual_stack(dual_stack)
            .build();
        let out = aws_sdk_ecr::Client::from_conf(conf)
            .get_authorization_token()
            .send()
            .await
            .map_err(|e| sdk_error(e, &endpoint))?;
        let data = out
            .authorization_data
            .and_then(|d| d.into_iter().next())
            .ok_or(Error::BadToken("no authorizationData"))?;
        (
            data.authorization_token,
            data.expires_at,
            data.proxy_endpoint,
        )
    };
    debug!("GetAuthorizationToken answered in {:?}", started.elapsed());
    let token = token.ok_or(Error::BadToken("no authorizationToken"))?;
    let expires_at = expires_at
        .map(|t| t.as_secs_f64())
        .ok_or(Error::BadToken("no expiresAt"))?;
    let (username, password) = decode_token(&token)?;
    Ok(Fetched {
        username,
        password,
        expires_at,
        proxy_endpoint,
    })
}

/// The endpoint `fetch` calls for `scope` under `config`, for `doctor`.
pub fn endpoint_for(scope: &TokenScope, config: &SdkConfig) -> String {
    describe_endpoint(scope, !endpoint_overridden(scope, config))
}

fn describe_endpoint(scope: &TokenScope, variants: bool) -> String {
    let var = if scope.public {
        "AWS_ENDPOINT_URL_ECR_PUBLIC"
    } else {
        "AWS_ENDPOINT_URL_ECR"
    };
    if !variants {
        if let Some(url) = [var, "AWS_ENDPOINT_URL"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
        {
            return url;
        }
        return "the configured endpoint_url".into();
    }
    scope.default_endpoint()
}

/// An error and its sources as one line of their `Display` texts: the SDK's own rendering
/// includes `Debug` dumps of its internals, which help nobody reading a `docker pull` failure.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        if !text.is_empty() && !parts.last().is_some_and(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = err.source();
    }
    parts.join(": ")
}

/// `base64("AWS:<password>")` to its parts. Anything else is an error, never a panic.
pub fn decode_token(token: &str) -> Result<(String, Secret), Error> {
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

pub(crate) fn sdk_error<E, R>(e: SdkError<E, R>, endpoint: &str) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match &e {
        SdkError::ServiceError(ctx) => {
            let err = ctx.err();
            let code = err.code().unwrap_or("Unknown");
            let code = code.rsplit('#').next().unwrap_or(code).to_string();
            let message = err.message().unwrap_or("no message").to_string();
            match code.as_str() {
                "AccessDeniedException"
                | "AccessDenied"
                | "UnrecognizedClientException"
                | "InvalidSignatureException"
                | "SignatureDoesNotMatch"
                | "ExpiredTokenException"
                | "ExpiredToken"
                | "InvalidClientTokenId"
                | "UnauthorizedOperation" => Error::AccessDenied { code, message },
                "ThrottlingException"
                | "Throttling"
                | "TooManyRequestsException"
                | "RequestLimitExceeded" => Error::Throttled(message),
                _ => Error::Service { code, message },
            }
        }
        SdkError::TimeoutError(_) => Error::TimedOut(None, "waiting for AWS"),
        SdkError::DispatchFailure(d) if d.is_timeout() => {
            Error::TimedOut(None, "connecting to AWS")
        }
        SdkError::DispatchFailure(_) => Error::Network {
            endpoint: endpoint.to_string(),
            message: error_chain(&e),
        },
        _ => Error::Service {
            code: "Unknown".into(),
            message: error_chain(&e),
        },
    }
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
