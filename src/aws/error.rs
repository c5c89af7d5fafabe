//! Why a token could not be had. Each protocol maps these to its own answer at its edge.

use crate::cache::policy::FailureKind;
use crate::host::registry::HostError;

#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error(transparent)]
    Host(#[from] HostError),

    #[error(
        "no AWS credentials found ({0}); set AWS_PROFILE or AWS_ACCESS_KEY_ID, run `aws configure` or `aws sso login`, or attach a role"
    )]
    NoCredentials(String),

    #[error("the AWS credentials could not be loaded: {0}")]
    Credentials(String),

    /// A credentials failure told by its source, with the fix (see `crate::engine::cause`).
    #[error("{what}; {fix}")]
    Source { what: String, fix: String },

    #[error("access denied by AWS ({code}): {message}")]
    AccessDenied { code: String, message: String },

    #[error("AWS throttled the request ({0}); try again shortly")]
    Throttled(String),

    /// What timed out, and after how long when we set the limit ourselves.
    #[error("timed out {}{}", .1, after(.0))]
    TimedOut(Option<std::time::Duration>, &'static str),

    #[error("network error reaching {endpoint}: {message}")]
    Network { endpoint: String, message: String },

    #[error("AWS answered {code}: {message}")]
    Service { code: String, message: String },

    #[error("AWS returned an unusable authorization token: {0}")]
    BadToken(&'static str),

    /// An AWS configuration the SDK cannot use, as checked before a call (in `crate::aws::fetch`).
    #[error("{0}")]
    Config(String),

    /// A shared AWS file (config or credentials) that cannot be used: unreadable, too large,
    /// or writable by others.
    #[error("{0}; the AWS SDK reads this file (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE)")]
    AwsFile(crate::util::files::FileError),

    #[error(transparent)]
    RegistryConfig(#[from] crate::host::config::ConfigError),

    /// The credentials a source we cannot see into (a `credential_process`) hands out are the
    /// very ones AWS refused moments ago: AWS is not asked again.
    #[error("the credentials AWS refused moments ago are unchanged")]
    Unchanged,

    /// A refresh failed moments ago (in this or another process), with the same inputs;
    /// asking again now would only add to the herd. `doctor` checks live and clears it.
    #[error(
        "{reason} (remembered from a recent attempt; ecr-login asks AWS again in {} s; to retry now, run `docker-credential-ecr-login doctor {host}`)",
        retry_in.ceil()
    )]
    Remembered {
        reason: String,
        retry_in: f64,
        kind: FailureKind,
        host: String,
    },
}

impl Error {
    /// A host that simply is not ECR: Docker asks a `credsStore` about every registry, so this
    /// one is answered silently.
    pub(crate) fn is_not_ecr(&self) -> bool {
        matches!(self, Error::Host(HostError::NotEcr(_)))
    }

    /// The kind of a failure of a call to AWS (ECR, STS, SSO), which every process should
    /// back off from; `None` for local failures (no credentials found, a broken config), whose
    /// fix (`aws sso login`, an edit) must take effect at once.
    pub(crate) fn failure_kind(&self) -> Option<FailureKind> {
        match self {
            Error::AccessDenied { .. } => Some(FailureKind::Denied),
            Error::Throttled(_) => Some(FailureKind::Throttled),
            Error::TimedOut(..) | Error::Network { .. } => Some(FailureKind::Network),
            Error::Service { .. } | Error::BadToken(_) => Some(FailureKind::Service),
            Error::Remembered { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// A new failure of a call to AWS, to be remembered (not one answered from memory).
    pub(crate) fn is_worth_remembering(&self) -> bool {
        !matches!(self, Error::Remembered { .. }) && self.failure_kind().is_some()
    }
}

fn after(limit: &Option<std::time::Duration>) -> String {
    limit
        .map(|d| {
            format!(
                " (after {:.1} s; AWS_ECR_TIMEOUT sets the limit)",
                d.as_secs_f64()
            )
        })
        .unwrap_or_default()
}
