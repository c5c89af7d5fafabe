//! Which credentials serve a request: one value from which both the cache key and the SDK's
//! credentials provider derive.
//!
//! Before this type there were two structures (what the SDK was told, and what the key held),
//! kept in step by hand; one forgotten field served one identity's token to another. Now the key
//! ([`CredentialSource::identity_key`]) and the resolution ([`CredentialSource::resolve`]) read
//! the same fields, the same environment ([`Settings`]) and the same bytes of the shared files
//! ([`AwsFiles`]).

use crate::aws::aws_files::{self, AwsFiles, ProfileChoice};
use crate::aws::error::Error;
use crate::aws::web_identity::PodRole;
use crate::cache::key::{self, KeyHasher};
use crate::util::files::{self, Trust};
use crate::util::log::debug;
use crate::util::settings::Settings;
use aws_config::SdkConfig;
use aws_sdk_ecr::config::{Credentials, ProvideCredentials, SharedCredentialsProvider};
use std::path::Path;
use std::time::Instant;

/// Where the base credentials come from.
#[derive(Debug, Clone)]
pub(crate) enum Base {
    /// The SDK's default chain, as the AWS CLI resolves it: environment keys, the selected
    /// profile, web identity, container credentials, instance metadata.
    DefaultChain,
    /// A profile named by the registry config: it wins over the environment's keys.
    Profile(String),
    /// A pod's own role (kubelet, KEP-4412), assumed with the pod's service account token.
    PodRole(PodRole),
}

/// Which credentials: the base, and a role assumed from it.
#[derive(Debug, Clone)]
pub(crate) struct CredentialSource {
    pub base: Base,
    /// Assumed with STS `AssumeRole` from the base credentials (registry config `role_arn`).
    pub role_arn: Option<String>,
    /// The region in which credentials are resolved and the role assumed, when it must differ
    /// from the registry's (an STS endpoint the account has enabled).
    pub sts_region: Option<String>,
}

/// Environment variables that select or configure the credentials or the endpoints a token
/// comes from. Secret values enter only the hash.
const KEYED_VARS: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SESSION_TOKEN",
    "AWS_ACCESS_KEY",
    "AWS_ACCOUNT_ID",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
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
    "AWS_STS_REGIONAL_ENDPOINTS",
];

/// A container authorization token file is a few KiB.
const MAX_TOKEN_FILE: u64 = 64 * 1024;

impl CredentialSource {
    pub(crate) fn default_chain() -> CredentialSource {
        CredentialSource {
            base: Base::DefaultChain,
            role_arn: None,
            sts_region: None,
        }
    }

    /// The profile the SDK reads its settings (and, for the chain, credentials) from.
    pub(crate) fn profile(&self, settings: &Settings) -> (String, ProfileChoice) {
        match &self.base {
            Base::Profile(p) => (p.clone(), ProfileChoice::RegistryConfig),
            _ => aws_files::selected_profile(settings),
        }
    }

    /// The identity part of cache keys: 32 hex characters.
    pub(crate) fn identity_key(&self, settings: &Settings, files: &AwsFiles) -> String {
        let mut key = KeyHasher::new();
        match &self.base {
            Base::DefaultChain => key.feed("base", "default-chain"),
            Base::Profile(p) => key.feed("base-profile", p),
            Base::PodRole(role) => {
                key.feed("base-pod-role", &role.role_arn);
                for claim in &role.claims {
                    key.feed("claim", claim);
                }
            }
        }
        if let Some(role) = &self.role_arn {
            key.feed("assume-role", role);
        }
        if let Some(region) = &self.sts_region {
            key.feed("sts-region", region);
        }
        for name in KEYED_VARS {
            if let Some(value) = settings.get(name) {
                key.feed(name, value);
            }
        }
        // EKS Pod Identity: the same URI for every pod, told apart by the token alone.
        if let Some(path) = settings.nonempty("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") {
            match files::read(Path::new(path), MAX_TOKEN_FILE, Trust::Any) {
                Ok(Some(token)) => key.feed_bytes("container-token-file", token.trim_ascii()),
                Ok(None) => key.feed("container-token-file-missing", path),
                Err(e) => key.feed("container-token-file-error", &e.to_string()),
            }
        }
        let (profile, _) = self.profile(settings);
        key.feed("profile-name", &profile);
        key.feed("config-file", &files.config.path.display().to_string());
        key.feed(
            "credentials-file",
            &files.credentials.path.display().to_string(),
        );
        files.feed_profile(settings, &profile, &mut key);
        if self.may_use_instance_metadata(settings) {
            key::feed_machine(&mut key);
        }
        key.finish()
    }

    /// Instance metadata identifies nothing in the configuration: the machine must then be
    /// part of the key. The chain never reaches it past environment keys.
    fn may_use_instance_metadata(&self, settings: &Settings) -> bool {
        if settings.is_true("AWS_EC2_METADATA_DISABLED") {
            return false;
        }
        !(matches!(self.base, Base::DefaultChain) && env_keys(settings).is_some())
    }

    /// Resolves the credentials once, explicitly, so that a missing or broken source is
    /// reported as such rather than as an opaque dispatch failure. `sdk` was loaded from the
    /// same settings and files (see [`crate::aws::fetch::load_config`]).
    pub(crate) async fn resolve(
        &self,
        settings: &Settings,
        sdk: &SdkConfig,
    ) -> Result<Credentials, Error> {
        let started = Instant::now();
        let from_env = matches!(self.base, Base::DefaultChain)
            .then(|| env_keys(settings))
            .flatten();
        let base = match (&self.base, from_env) {
            (Base::PodRole(role), _) => {
                crate::aws::web_identity::assume(settings, sdk, role).await?
            }
            // The legacy names are ours to read; the SDK knows only the current ones.
            (_, Some(keys)) => Credentials::new(
                keys.id,
                keys.secret,
                keys.session_token.map(str::to_string),
                None,
                "ecr-login-environment",
            ),
            _ => sdk
                .credentials_provider()
                .ok_or_else(|| Error::NoCredentials("no credential provider is configured".into()))?
                .provide_credentials()
                .await
                .map_err(|e| credentials_error(e, settings, sdk))?,
        };
        debug!("credentials resolved in {:?}", started.elapsed());
        let Some(role_arn) = &self.role_arn else {
            return Ok(base);
        };
        let started = Instant::now();
        let assumed = aws_config::sts::AssumeRoleProvider::builder(role_arn)
            .session_name("ecr-login")
            .configure(sdk)
            .build_from_provider(SharedCredentialsProvider::new(base))
            .await
            .provide_credentials()
            .await
            .map_err(|e| credentials_error(e, settings, sdk))?;
        debug!("assumed {role_arn} in {:?}", started.elapsed());
        Ok(assumed)
    }
}

/// Keys from the environment, under their current names or the legacy `AWS_ACCESS_KEY` /
/// `AWS_SECRET_KEY` that the Go SDK and the AWS CLI still read.
pub(crate) fn env_keys(settings: &Settings) -> Option<EnvKeys<'_>> {
    let pair = |id_var: &'static str, secret_var: &str| {
        Some(EnvKeys {
            id_var,
            id: settings.nonempty(id_var)?,
            secret: settings.nonempty(secret_var)?,
            session_token: settings.nonempty("AWS_SESSION_TOKEN"),
        })
    };
    pair("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
        .or_else(|| pair("AWS_ACCESS_KEY", "AWS_SECRET_KEY"))
}

/// Keys found in the environment (see [`env_keys`]).
pub(crate) struct EnvKeys<'a> {
    /// The variable the key id came from, to name it.
    pub(crate) id_var: &'static str,
    pub(crate) id: &'a str,
    pub(crate) secret: &'a str,
    pub(crate) session_token: Option<&'a str>,
}

/// A failure of the SDK's credential providers as one of ours. A provider that called AWS
/// (STS for a role or web identity, the SSO portal) and was throttled, refused or not reached
/// fails like the ECR call would, so that it is reported in one line and remembered alike;
/// anything else is local (no credentials, a broken profile) and is not remembered.
pub(crate) fn credentials_error(
    e: aws_credential_types::provider::error::CredentialsError,
    settings: &Settings,
    sdk: &SdkConfig,
) -> Error {
    use aws_credential_types::provider::error::CredentialsError as E;
    if let Some(call) = failed_call(&e, settings, sdk) {
        return call;
    }
    let detail = crate::aws::sdk_errors::error_chain(&e);
    match e {
        E::CredentialsNotLoaded(_) => Error::NoCredentials(detail),
        E::ProviderTimedOut(_) => Error::TimedOut(None, "loading AWS credentials"),
        _ => Error::Credentials(detail),
    }
}

/// The AWS call inside a credentials error, classified: the SDK nests it (a profile's role
/// chain wraps the STS error in provider errors), so every level of the chain is looked at.
fn failed_call(
    e: &(dyn std::error::Error + 'static),
    settings: &Settings,
    sdk: &SdkConfig,
) -> Option<Error> {
    use aws_sdk_sso::operation::get_role_credentials::GetRoleCredentialsError;
    use aws_sdk_sts::error::SdkError;
    use aws_sdk_sts::operation::assume_role::AssumeRoleError;
    use aws_sdk_sts::operation::assume_role_with_web_identity::AssumeRoleWithWebIdentityError;
    let sts = || crate::aws::web_identity::sts_endpoint(settings, sdk);
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(e) = err.downcast_ref::<SdkError<AssumeRoleError>>() {
            return Some(crate::aws::sdk_errors::sdk_error_ref(e, &sts()));
        }
        if let Some(e) = err.downcast_ref::<SdkError<AssumeRoleWithWebIdentityError>>() {
            return Some(crate::aws::sdk_errors::sdk_error_ref(e, &sts()));
        }
        if let Some(e) = err.downcast_ref::<SdkError<GetRoleCredentialsError>>() {
            return Some(crate::aws::sdk_errors::sdk_error_ref(e, "the SSO portal"));
        }
        if let Some(e) = err.downcast_ref::<aws_sdk_sts::error::ConnectorError>() {
            return Some(if e.is_timeout() {
                Error::TimedOut(None, "reaching the credentials endpoint")
            } else {
                Error::Network {
                    endpoint: credentials_endpoint(settings),
                    message: crate::aws::sdk_errors::error_chain(e),
                }
            });
        }
        if let Some(status) = endpoint_status(&err.to_string()) {
            return Some(endpoint_refusal(settings, status));
        }
        next = err.source();
    }
    None
}

/// The container or instance-metadata endpoint the chain asks, for messages.
fn credentials_endpoint(settings: &Settings) -> String {
    if let Some(uri) = settings.nonempty("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
        return crate::util::redact::url(uri);
    }
    if let Some(path) = settings.nonempty("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
        return format!("http://169.254.170.2{}", crate::util::redact::url(path));
    }
    settings
        .nonempty("AWS_EC2_METADATA_SERVICE_ENDPOINT")
        .map(crate::util::redact::url)
        .unwrap_or_else(|| "the instance metadata service".into())
}

/// The HTTP status in the SDK's words for a container or instance-metadata endpoint that
/// answered with an error ("Non-success status from HTTP credential provider: StatusCode(429)"):
/// the SDK keeps no typed error for it.
fn endpoint_status(text: &str) -> Option<u16> {
    let rest = text.split_once("Non-success status")?.1;
    let digits: String = rest
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn endpoint_refusal(settings: &Settings, status: u16) -> Error {
    let endpoint = credentials_endpoint(settings);
    let message = format!("the credentials endpoint {endpoint} answered HTTP {status}");
    match status {
        429 => Error::Throttled(message),
        400..=499 => Error::AccessDenied {
            code: format!("HTTP {status}"),
            message,
        },
        _ => Error::Service {
            code: format!("HTTP {status}"),
            message,
        },
    }
}

#[cfg(test)]
mod tests {

    /// The keyed variables are read at all, and the environment table says they key the cache:
    /// the one list of variables (`settings::NAMES`, docs/environment.md) covers this one.
    #[test]
    fn keyed_variables_are_read_and_documented_as_keys() {
        let table = include_str!("../../docs/environment.md");
        for name in KEYED_VARS {
            assert!(
                crate::util::settings::NAMES.contains(name),
                "{name} keys the cache but is not in settings::NAMES"
            );
            let row = table
                .lines()
                .find(|l| l.starts_with(&format!("| `{name}` |")))
                .unwrap_or_else(|| panic!("{name} has no row in docs/environment.md"));
            let keys = row.split('|').nth(4).unwrap_or_default().trim();
            assert!(
                keys.starts_with("yes"),
                "docs/environment.md says {name} keys the cache: {keys:?}"
            );
        }
    }
    use super::*;

    fn files(settings: &Settings) -> AwsFiles {
        AwsFiles::load(settings).unwrap()
    }

    fn key(vars: &[(&str, &str)]) -> String {
        let mut all = vec![
            ("HOME", "/nonexistent"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ];
        all.extend_from_slice(vars);
        let s = Settings::for_test(&all);
        CredentialSource::default_chain().identity_key(&s, &files(&s))
    }

    /// Every service the credential chain or the token call reaches can be pointed elsewhere
    /// by its own variable, and a token from another endpoint is another identity's.
    #[test]
    fn every_endpoint_override_keys_the_identity() {
        let plain = key(&[]);
        for service in ["ECR", "ECR_PUBLIC", "STS", "SSO", "SSO_OIDC", "SIGNIN"] {
            let name = format!("AWS_ENDPOINT_URL_{service}");
            assert_ne!(
                key(&[(name.as_str(), "http://127.0.0.1:9")]),
                plain,
                "{name} does not key the cache"
            );
        }
    }

    #[test]
    fn different_sources_differ() {
        let keys = [
            key(&[]),
            key(&[
                ("AWS_ACCESS_KEY_ID", "AKIA1"),
                ("AWS_SECRET_ACCESS_KEY", "s"),
            ]),
            key(&[
                ("AWS_ACCESS_KEY_ID", "AKIA2"),
                ("AWS_SECRET_ACCESS_KEY", "s"),
            ]),
            key(&[("AWS_ACCESS_KEY", "AKIA3"), ("AWS_SECRET_KEY", "s")]),
            key(&[("AWS_PROFILE", "dev")]),
            key(&[("AWS_PROFILE", "")]),
            key(&[("AWS_DEFAULT_PROFILE", "dev2")]),
            key(&[("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1/x")]),
            key(&[
                ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1/x"),
                ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "pod-b"),
            ]),
        ];
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(
            keys[1],
            key(&[
                ("AWS_ACCESS_KEY_ID", "AKIA1"),
                ("AWS_SECRET_ACCESS_KEY", "s")
            ])
        );
    }
}
