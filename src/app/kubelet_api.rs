//! The kubelet's credential provider API as this plugin reads it: its names, the request, and
//! why the kubelet gets no credentials. Shared by the protocol ([`crate::app::kubelet`]) and
//! the pod roles it reads from the request ([`crate::app::pod_role`]).

use crate::aws::error::Error;
use std::collections::BTreeMap;
use std::time::Duration;

pub(crate) const API_GROUP: &str = "credentialprovider.kubelet.k8s.io";

/// The API versions we answer in; the answer must carry the version asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ApiVersion {
    V1,
    V1beta1,
    V1alpha1,
}

impl ApiVersion {
    /// The version named by `credentialprovider.kubelet.k8s.io/<version>`.
    pub(crate) fn parse(api_version: &str) -> Option<ApiVersion> {
        let version = api_version.strip_prefix(API_GROUP)?.strip_prefix('/')?;
        Some(match version {
            "v1" => ApiVersion::V1,
            "v1beta1" => ApiVersion::V1beta1,
            "v1alpha1" => ApiVersion::V1alpha1,
            _ => return None,
        })
    }

    /// Per-pod credentials (a service account token and its annotations) exist in v1 only.
    pub(crate) fn has_service_accounts(self) -> bool {
        self == ApiVersion::V1
    }
}
pub(crate) const REQUEST_KIND: &str = "CredentialProviderRequest";
pub(crate) const RESPONSE_KIND: &str = "CredentialProviderResponse";

/// The most we read from stdin. A request is an image name, a service account token (a few
/// KiB) and the annotations the config asks for (Kubernetes caps all of an object's
/// annotations at 256 KiB together).
pub(crate) const MAX_REQUEST: usize = 512 * 1024;

/// Why the kubelet gets no credentials. Each variant renders as the one line on stderr.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KubeletError {
    #[error("cannot read the request from stdin: {0}")]
    Read(std::io::Error),
    #[error("the request is longer than {MAX_REQUEST} bytes")]
    TooLarge,
    #[error("the request is not valid JSON: {0}")]
    Json(String),
    #[error("the request is not a CredentialProviderRequest: {0}")]
    Shape(String),
    #[error("unsupported apiVersion {0}; this plugin speaks {API_GROUP}/v1, v1beta1 and v1alpha1")]
    ApiVersion(String),
    #[error("the request's image is empty")]
    EmptyImage,
    #[error("bad image {image}: {why}")]
    Image { image: String, why: String },
    #[error(
        "{0} is not an Amazon ECR registry and no AWS region is configured for it; set AWS_REGION (or a region in the AWS config) to use that region's ECR token"
    )]
    NoRegion(String),
    #[error("{registry}: the region {region:?} from the AWS configuration is not a region name")]
    BadRegion { registry: String, region: String },
    #[error("the role ARN {arn:?} from {source_name} is not an IAM role ARN")]
    RoleArn { arn: String, source_name: String },
    #[error(
        "the pod's service account names the role {0} but the request carries no service account token; give the provider a tokenAttributes block in the kubelet's CredentialProviderConfig"
    )]
    NoServiceAccountToken(String),
    #[error("the service account token is not a JWT with iss and sub claims: {0}")]
    ServiceAccountToken(&'static str),
    #[error("the service account token's claim {claim} {problem}")]
    Claim {
        claim: &'static str,
        problem: String,
    },
    #[error("{registry}: {source}")]
    Token { registry: String, source: Error },
    #[error("timed out after {0:?} (the kubelet's limit is a minute)")]
    HardLimit(Duration),
    #[error("cannot write the response: {0}")]
    Write(String),
}

/// A request, read.
#[derive(Debug)]
pub(crate) struct ProviderRequest {
    /// `credentialprovider.kubelet.k8s.io/<version>`, as sent.
    pub api_version: String,
    pub image: String,
    /// v1 only, when the kubelet's config has `tokenAttributes`.
    pub service_account_token: Option<crate::util::secret::Secret>,
    pub service_account_annotations: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions() {
        for (text, version) in [
            ("credentialprovider.kubelet.k8s.io/v1", Some(ApiVersion::V1)),
            (
                "credentialprovider.kubelet.k8s.io/v1beta1",
                Some(ApiVersion::V1beta1),
            ),
            (
                "credentialprovider.kubelet.k8s.io/v1alpha1",
                Some(ApiVersion::V1alpha1),
            ),
            ("credentialprovider.kubelet.k8s.io/v2", None),
            ("credentialprovider.kubelet.k8s.iov1", None),
            ("v1", None),
        ] {
            assert_eq!(ApiVersion::parse(text), version, "{text}");
        }
        assert!(ApiVersion::V1.has_service_accounts());
        assert!(!ApiVersion::V1beta1.has_service_accounts());
    }
}
