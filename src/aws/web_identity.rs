//! STS `AssumeRoleWithWebIdentity` with a token held in memory.
//!
//! The kubelet hands the plugin a pod's service account token in the request; aws-config's web
//! identity provider only reads tokens from a file, and writing a pod's token to disk to please
//! it would be worse than this one call. It runs inside [`crate::aws::fetch::fetch`], so only on a
//! cache miss and under the same deadline, timeouts and retries as the ECR call.

use crate::aws::error::Error;
use crate::aws::sdk_errors;
use crate::util::log::debug;
use crate::util::secret::Secret;
use crate::util::settings::Settings;
use aws_config::SdkConfig;
use aws_sdk_ecr::config::Credentials;
use std::time::Instant;

/// A role to assume with a pod's service account token.
#[derive(Debug, Clone)]
pub(crate) struct PodRole {
    pub role_arn: String,
    pub token: Secret,
    /// Shows up in CloudTrail next to the role; names the service account.
    pub session_name: String,
    /// The token's `iss`, `sub` and sorted `aud`: exactly what a role's trust policy can tell
    /// apart, and so what the key must tell apart (the token itself changes every hour).
    pub claims: [String; 3],
}

/// Exchanges the token for the role's temporary credentials. STS does not sign this call, so
/// the node's own credentials are neither needed nor used.
pub(crate) async fn assume(
    settings: &Settings,
    config: &SdkConfig,
    identity: &PodRole,
) -> Result<Credentials, Error> {
    let started = Instant::now();
    let mut builder = aws_sdk_sts::config::Builder::from(config);
    builder.set_credentials_provider(None);
    let client = aws_sdk_sts::Client::from_conf(builder.build());
    let out = client
        .assume_role_with_web_identity()
        .role_arn(&identity.role_arn)
        .role_session_name(&identity.session_name)
        .web_identity_token(identity.token.expose())
        .send()
        .await
        .map_err(|e| sdk_errors::sdk_error(e, &sts_endpoint(settings, config)))?;
    let creds = out
        .credentials
        .ok_or_else(|| Error::Credentials("STS answered without credentials".into()))?;
    let expiry = std::time::SystemTime::try_from(creds.expiration).ok();
    debug!(
        "assumed {} with a web identity in {:?}",
        identity.role_arn,
        started.elapsed()
    );
    Ok(Credentials::new(
        creds.access_key_id,
        creds.secret_access_key,
        Some(creds.session_token),
        expiry,
        "ecr-login-web-identity",
    ))
}

/// Where the call went, for network error messages.
pub(crate) fn sts_endpoint(settings: &Settings, config: &SdkConfig) -> String {
    ["AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL"]
        .iter()
        .find_map(|v| settings.nonempty(v))
        .map(crate::util::redact::url)
        .unwrap_or_else(|| {
            let region = config.region().map(|r| r.as_ref()).unwrap_or("us-east-1");
            format!("https://sts.{region}.amazonaws.com")
        })
}
