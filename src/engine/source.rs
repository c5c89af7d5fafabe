//! Which credential source the AWS chain will use, told in words, for `doctor` and debug logs.
//!
//! This describes; it never resolves. Resolution is
//! [`crate::aws::credentials::CredentialSource::resolve`] (the SDK's default chain, a profile, a
//! pod role, a role assumed from either), and this follows the same order (environment keys, profile, web identity, container,
//! instance metadata) only to name the step a newcomer should look at. The profile is read from
//! the same parsed files ([`crate::aws::aws_files`]) that key the cache and feed the SDK, so the
//! three never disagree.

use crate::aws::credentials::{Base, CredentialSource};
use crate::engine::context::Context;
use crate::util::settings::Settings;
use serde::Serialize;

/// The source in effect, with what a person needs to recognise it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct Source {
    pub kind: Kind,
    /// For a profile, how it gets credentials.
    pub profile_kind: Option<ProfileKind>,
    pub profile: Option<String>,
    /// One line for people.
    pub summary: String,
}

/// The chain's step that provides the credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Kind {
    Environment,
    Profile,
    WebIdentity,
    Container,
    InstanceMetadata,
    None,
}

/// How a profile gets its credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum ProfileKind {
    StaticKeys,
    AssumeRole,
    Sso,
    CredentialProcess,
    WebIdentity,
    Login,
    /// Named, but in neither file.
    Missing,
    /// Present, with no setting that gives credentials (or files that do not parse).
    Unknown,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Environment => "environment",
            Kind::Profile => "profile",
            Kind::WebIdentity => "web-identity",
            Kind::Container => "container",
            Kind::InstanceMetadata => "instance-metadata",
            Kind::None => "none",
        }
    }
}

impl ProfileKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            ProfileKind::StaticKeys => "static-keys",
            ProfileKind::AssumeRole => "assume-role",
            ProfileKind::Sso => "sso",
            ProfileKind::CredentialProcess => "credential-process",
            ProfileKind::WebIdentity => "web-identity",
            ProfileKind::Login => "login",
            ProfileKind::Missing => "missing",
            ProfileKind::Unknown => "unknown",
        }
    }
}

/// The access key id with its middle hidden: enough to tell two keys apart, not to use one.
pub(crate) fn mask_key_id(id: &str) -> String {
    if id.len() <= 8 || !id.is_ascii() {
        return "***".into();
    }
    format!("{}...{}", &id[..4], &id[id.len() - 4..])
}

/// The source in effect, with the profile's kind read from the shared files. The steps are
/// the chain's own, in its order: the first that has credentials is the one named.
pub(crate) fn describe(cx: &Context, credentials: &CredentialSource) -> Source {
    if let Base::PodRole(role) = &credentials.base {
        return plain(
            Kind::WebIdentity,
            None,
            format!("the pod's role {} (service account token)", role.role_arn),
        );
    }
    if matches!(credentials.base, Base::DefaultChain)
        && let Some(source) = environment_keys(&cx.settings)
    {
        return source;
    }
    from_profile(cx, credentials)
}

/// A source with no profile kind.
fn plain(kind: Kind, profile: Option<String>, summary: String) -> Source {
    Source {
        kind,
        profile_kind: None,
        profile,
        summary,
    }
}

/// Keys in the environment, either pair of names, the first complete pair winning as in the
/// SDK; the key id masked.
fn environment_keys(settings: &Settings) -> Option<Source> {
    let keys = crate::aws::credentials::env_keys(settings)?;
    let session = if keys.session_token.is_some() {
        " with a session token"
    } else {
        ""
    };
    Some(plain(
        Kind::Environment,
        None,
        format!(
            "environment variables {} ({}){session}",
            keys.id_var,
            mask_key_id(keys.id)
        ),
    ))
}

/// The profile step: the profile the chain would read, and how it gets credentials. A default
/// profile that is absent or gives no credentials is not an error: the chain goes on.
fn from_profile(cx: &Context, credentials: &CredentialSource) -> Source {
    let settings = &cx.settings;
    let (name, choice) = credentials.profile(settings);
    let mut out = plain(
        Kind::Profile,
        Some(name.clone()),
        format!("profile {name} ({})", choice.describe()),
    );
    let explicit = choice != crate::aws::aws_files::ProfileChoice::Default;
    let profiles = match cx.files.profiles() {
        Ok(p) => p,
        Err(e) => {
            out.profile_kind = Some(ProfileKind::Unknown);
            out.summary = format!("the shared AWS config files do not parse: {e}");
            return out;
        }
    };
    let Some(profile) = profiles.get_profile(&name) else {
        if explicit {
            out.profile_kind = Some(ProfileKind::Missing);
            out.summary =
                format!("profile {name}, which is in neither the config nor the credentials file");
            return out;
        }
        // No default profile: the chain goes on to the sources that need no file.
        return after_profiles(settings);
    };
    let Some((kind, detail)) = profile_kind(profile, explicit) else {
        // A default profile with only settings such as `region`: the chain goes on.
        return after_profiles(settings);
    };
    out.profile_kind = Some(kind);
    out.summary = format!("{}: {detail}", out.summary);
    out
}

/// How a profile gets credentials, by the settings the SDK looks at, in its order of
/// precedence. `None` for a default profile with none of them (the chain goes on); a named
/// one is then [`ProfileKind::Unknown`], since the chain stops there.
fn profile_kind(
    profile: &aws_config::profile::Profile,
    explicit: bool,
) -> Option<(ProfileKind, String)> {
    let get = |k: &str| profile.get(k).filter(|v| !v.is_empty());
    if let Some(role) = get("role_arn") {
        return Some(assumed_role(
            role,
            get("source_profile"),
            get("credential_source"),
            get("web_identity_token_file").is_some(),
        ));
    }
    let found = if get("sso_session").is_some() || get("sso_start_url").is_some() {
        let session = get("sso_session")
            .map(|s| format!(" (session {s})"))
            .unwrap_or_default();
        (
            ProfileKind::Sso,
            format!("IAM Identity Center{session}; `aws sso login` when it expires"),
        )
    } else if get("credential_process").is_some() {
        (
            ProfileKind::CredentialProcess,
            "credential_process".to_string(),
        )
    } else if let Some(id) = get("aws_access_key_id") {
        (
            ProfileKind::StaticKeys,
            format!("access key {}", mask_key_id(id)),
        )
    } else if get("login_session").is_some() {
        (ProfileKind::Login, "`aws login` session".to_string())
    } else if !explicit {
        return None;
    } else {
        (ProfileKind::Unknown, "no credential settings".to_string())
    };
    Some(found)
}

/// A profile with a `role_arn`: where the role's base credentials come from.
fn assumed_role(
    role: &str,
    source_profile: Option<&str>,
    credential_source: Option<&str>,
    web_identity: bool,
) -> (ProfileKind, String) {
    if let Some(src) = source_profile {
        (
            ProfileKind::AssumeRole,
            format!("assumes {role} from profile {src}"),
        )
    } else if let Some(src) = credential_source {
        (
            ProfileKind::AssumeRole,
            format!("assumes {role} from {src}"),
        )
    } else if web_identity {
        (ProfileKind::WebIdentity, format!("web identity for {role}"))
    } else {
        (ProfileKind::AssumeRole, format!("assumes {role}"))
    }
}

/// The chain's steps after the profile files.
fn after_profiles(settings: &Settings) -> Source {
    let var = |name: &str| settings.nonempty(name).map(str::to_string);
    let source = |kind, summary: String| plain(kind, None, summary);
    if let (Some(role), Some(_)) = (var("AWS_ROLE_ARN"), var("AWS_WEB_IDENTITY_TOKEN_FILE")) {
        return source(
            Kind::WebIdentity,
            format!("web identity (AWS_WEB_IDENTITY_TOKEN_FILE, IRSA) for {role}"),
        );
    }
    if let Some(uri) = var("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        .or_else(|| var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"))
    {
        let which = if uri.contains("169.254.170.23") || uri.contains("fd00:ec2::23") {
            "EKS Pod Identity"
        } else {
            "ECS task role"
        };
        return source(Kind::Container, format!("container credentials ({which})"));
    }
    if settings.is_true("AWS_EC2_METADATA_DISABLED") {
        return source(
            Kind::None,
            "none: no keys, no profile, no web identity, no container credentials, and instance metadata is disabled (AWS_EC2_METADATA_DISABLED)".into(),
        );
    }
    source(
        Kind::InstanceMetadata,
        "EC2 instance metadata (the instance profile's role)".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_key_ids() {
        assert_eq!(mask_key_id("AKIAFAKEFAKEFAKE0001"), "AKIA...0001");
        assert_eq!(mask_key_id("short"), "***");
    }
}
