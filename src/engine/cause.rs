//! The one line Docker shows, made of the most specific cause we can name.
//!
//! When credentials cannot be had, the SDK's own error is a dump of every step of its chain
//! ("Environment: not enabled ... Ec2InstanceMetadata: could not communicate with IMDS ..."),
//! ending in advice that may not apply ("set AWS_PROFILE", when it is set). What went wrong is
//! usually one thing that [`crate::engine::source::describe`] can name from the files and environment
//! alone: a profile that does not exist, an SSO or `aws login` session to renew, no source at
//! all. That goes in the line; the SDK's chain goes to the debug log.

use crate::aws::credentials::CredentialSource;
use crate::aws::error::Error;
use crate::engine::context::Context;
use crate::engine::source::{self, Kind, ProfileKind};
use crate::util::log::debug;

/// Before any call: a profile chosen by name (`AWS_PROFILE`, `AWS_DEFAULT_PROFILE`, the
/// registry config) that neither file has is the whole story, as the AWS CLI and the Go SDK
/// say, rather than the chain's later steps (instance metadata on a laptop) failing in its
/// place.
pub(crate) fn check_source(cx: &Context, source: &CredentialSource) -> Result<(), Error> {
    let described = source::describe(cx, source);
    let profile = described.profile.clone().unwrap_or_default();
    // `AWS_PROFILE=` (empty) names no profile on purpose: the chain goes on to container and
    // instance credentials, as the Rust SDK reads it (see `aws_files::selected_profile`).
    if described.profile_kind != Some(ProfileKind::Missing) || profile.is_empty() {
        return Ok(());
    }
    Err(Error::Source {
        what: format!(
            "{} ({} names it; the files are {} and {})",
            described.summary,
            source.profile(&cx.settings).1.describe(),
            cx.files.config.path.display(),
            cx.files.credentials.path.display()
        ),
        fix: format!("fix the name, or add the profile (`aws configure --profile {profile}`)"),
    })
}

/// A credentials failure told by its source; other errors pass through.
pub(crate) fn explain(cx: &Context, source: &CredentialSource, err: Error) -> Error {
    let detail = match err {
        Error::NoCredentials(ref detail) | Error::Credentials(ref detail) => detail.clone(),
        // A session the portal refused (expired, signed out): remembered like any denial, and
        // told how to renew.
        Error::AccessDenied { code, message } => {
            let message = match renewal(cx, source) {
                Some(renew) => format!("{message}; run `{renew}`"),
                None => message,
            };
            return Error::AccessDenied { code, message };
        }
        _ => return err,
    };
    let described = source::describe(cx, source);
    let renew = renewal(cx, source);
    let explained = match (described.kind, renew) {
        (_, Some(renew)) => Error::Source {
            what: format!(
                "{}: the session has no valid token (it expired, or nobody signed in on this machine)",
                described.summary
            ),
            fix: format!("run `{renew}`"),
        },
        // Still "no credentials" (which `list` passes over in silence), in one short line.
        (Kind::None, None) => Error::NoCredentials(
            "no keys in the environment, no profile with credentials, no web identity or container credentials, and instance metadata is disabled".into(),
        ),
        (Kind::InstanceMetadata, None) if matches!(err, Error::NoCredentials(_)) => {
            Error::NoCredentials(
                "no keys in the environment, no profile with credentials, and no instance role answered: not on EC2, or no instance profile".into(),
            )
        }
        _ => return err,
    };
    debug!("the AWS SDK's credential chain said: {detail}");
    explained
}

/// The command that renews the selected profile's session, when it has one.
fn renewal(cx: &Context, source: &CredentialSource) -> Option<String> {
    let described = source::describe(cx, source);
    let profile = described.profile.unwrap_or_default();
    match described.profile_kind {
        Some(ProfileKind::Sso) => Some(format!("aws sso login --profile {profile}")),
        Some(ProfileKind::Login) => Some(format!("aws login --profile {profile}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::settings::Settings;

    fn context(vars: &[(&str, &str)], config: &str) -> (tempfile::TempDir, Context) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, config).unwrap();
        let path = path.display().to_string();
        let mut all = vec![
            ("HOME", "/nonexistent"),
            ("AWS_CONFIG_FILE", path.as_str()),
            ("AWS_SHARED_CREDENTIALS_FILE", ""),
            ("AWS_ECR_DISABLE_CACHE", "1"),
        ];
        all.extend_from_slice(vars);
        let cx = Context::load(Settings::for_test(&all)).unwrap();
        (dir, cx)
    }

    #[test]
    fn a_missing_profile_is_named_before_any_call() {
        let (_dir, cx) = context(&[("AWS_PROFILE", "prod")], "[profile dev]\n");
        let err = check_source(&cx, &CredentialSource::default_chain()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("profile prod"), "{text}");
        assert!(text.contains("AWS_PROFILE names it"), "{text}");
        assert!(!text.contains("set AWS_PROFILE"), "{text}");
        let (_dir, cx) = context(&[("AWS_PROFILE", "dev")], "[profile dev]\nregion = x\n");
        assert!(check_source(&cx, &CredentialSource::default_chain()).is_ok());
        // Environment keys win over a missing profile, as in the SDK's chain.
        let (_dir, cx) = context(
            &[
                ("AWS_PROFILE", "prod"),
                ("AWS_ACCESS_KEY_ID", "AKIA1"),
                ("AWS_SECRET_ACCESS_KEY", "s"),
            ],
            "",
        );
        assert!(check_source(&cx, &CredentialSource::default_chain()).is_ok());
    }

    #[test]
    fn sessions_name_their_renewal() {
        let (_dir, cx) = context(
            &[("AWS_PROFILE", "sso")],
            "[profile sso]\nsso_session = corp\n[sso-session corp]\nsso_start_url = https://x/start\nsso_region = us-east-1\n",
        );
        let err = explain(
            &cx,
            &CredentialSource::default_chain(),
            Error::Credentials("failed to load the cached SSO token".into()),
        );
        assert!(
            err.to_string().contains("`aws sso login --profile sso`"),
            "{err}"
        );
    }

    #[test]
    fn no_source_at_all_is_one_short_line() {
        let (_dir, cx) = context(&[("AWS_EC2_METADATA_DISABLED", "true")], "");
        let err = explain(
            &cx,
            &CredentialSource::default_chain(),
            Error::NoCredentials("no credentials found in chain. Attempted: ...".into()),
        );
        let text = err.to_string();
        assert!(text.starts_with("no AWS credentials found"), "{text}");
        assert!(!text.contains("Attempted"), "{text}");
    }
}
