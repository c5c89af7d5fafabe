//! The AWS SDK's errors as ours, for every AWS call (ECR, STS, SSO) and the shared files alike.

use crate::aws::error::Error;
use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};

/// An error and its sources as one line of their `Display` texts, with every URL in them
/// redacted: the SDK's own rendering includes `Debug` dumps of its internals, which help nobody
/// reading a `docker pull` failure, and its texts repeat endpoints that may carry a password.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        if !text.is_empty() && !parts.last().is_some_and(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = err.source();
    }
    crate::util::redact::text(&parts.join(": ").replace(['\n', '\r'], " "))
}

pub(crate) fn sdk_error<E, R>(e: SdkError<E, R>, endpoint: &str) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    sdk_error_ref(&e, endpoint)
}

/// An SDK error of any AWS call (ECR, STS, SSO) as one of ours: the same codes mean the same
/// thing whichever service said them, and each is remembered alike.
pub(crate) fn sdk_error_ref<E, R>(e: &SdkError<E, R>, endpoint: &str) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match e {
        SdkError::ServiceError(ctx) => {
            let err = ctx.err();
            let code = err.code().unwrap_or("Unknown");
            let code = code.rsplit('#').next().unwrap_or(code).to_string();
            let message = crate::util::redact::text(err.message().unwrap_or("no message"));
            match code.as_str() {
                "AccessDeniedException"
                | "AccessDenied"
                | "UnrecognizedClientException"
                | "InvalidSignatureException"
                | "SignatureDoesNotMatch"
                | "ExpiredTokenException"
                | "ExpiredToken"
                | "InvalidClientTokenId"
                | "UnauthorizedOperation"
                | "UnauthorizedException"
                | "InvalidIdentityToken"
                | "IDPRejectedClaim" => Error::AccessDenied { code, message },
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
            message: error_chain(e),
        },
        _ => Error::Service {
            code: "Unknown".into(),
            message: error_chain(e),
        },
    }
}
