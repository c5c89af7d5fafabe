//! Which credential source the AWS chain will use, told in words, for `doctor` and debug logs.
//!
//! This describes; it never resolves. Resolution is the SDK's default chain in [`crate::fetch`],
//! and this follows the same order (environment keys, profile, web identity, container,
//! instance metadata) only to name the step a newcomer should look at. The profile's kind is
//! read with the SDK's own profile parser, so the two never disagree about the files.

use aws_config::profile::ProfileFileLoadError;
use aws_types::os_shim_internal::{Env, Fs};
use serde::Serialize;
use std::borrow::Cow;

/// The source in effect, with what a person needs to recognise it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Source {
    /// `environment`, `profile`, `web-identity`, `container`, `instance-metadata` or `none`.
    pub kind: &'static str,
    /// For `profile`: `static-keys`, `assume-role`, `sso`, `credential-process`,
    /// `web-identity`, `login`, or `missing` when the profile is not in the files.
    pub profile_kind: Option<&'static str>,
    pub profile: Option<String>,
    /// One line for people.
    pub summary: String,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The access key id with its middle hidden: enough to tell two keys apart, not to use one.
pub fn mask_key_id(id: &str) -> String {
    if id.len() <= 8 || !id.is_ascii() {
        return "***".into();
    }
    format!("{}...{}", &id[..4], &id[id.len() - 4..])
}

/// The chain step from the environment alone: cheap enough for a debug line on every call.
/// `profile` is a profile chosen by the registry config, which wins over the environment.
pub fn summary(profile: Option<&str>) -> String {
    describe_env(profile).summary
}

fn describe_env(profile: Option<&str>) -> Source {
    let source = |kind, profile: Option<String>, summary| Source {
        kind,
        profile_kind: None,
        profile,
        summary,
    };
    if let Some(p) = profile {
        return source(
            "profile",
            Some(p.into()),
            format!("profile {p} (registry config)"),
        );
    }
    if let (Some(id), Some(_)) = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        let session = if var("AWS_SESSION_TOKEN").is_some() {
            " with a session token"
        } else {
            ""
        };
        return source(
            "environment",
            None,
            format!(
                "environment variables AWS_ACCESS_KEY_ID ({}){session}",
                mask_key_id(&id)
            ),
        );
    }
    let (name, why) = match (var("AWS_PROFILE"), var("AWS_DEFAULT_PROFILE")) {
        (Some(p), _) => (p, "AWS_PROFILE"),
        (None, Some(p)) => (p, "AWS_DEFAULT_PROFILE"),
        (None, None) => ("default".to_string(), "the default profile"),
    };
    source(
        "profile",
        Some(name.clone()),
        if why == "the default profile" {
            format!("profile default ({why}), if the shared files define it")
        } else {
            format!("profile {name} ({why})")
        },
    )
}

/// The source in effect, with the profile's kind read from the shared files.
pub async fn describe(profile_override: Option<&str>) -> Result<Source, ProfileFileLoadError> {
    let mut source = describe_env(profile_override);
    if source.kind != "profile" {
        return Ok(source);
    }
    let name = source.profile.clone().unwrap_or_else(|| "default".into());
    let profiles = aws_config::profile::load(
        &Fs::real(),
        &Env::real(),
        &Default::default(),
        Some(Cow::Owned(name.clone())),
    )
    .await?;
    let Some(profile) = profiles.get_profile(&name) else {
        if profile_override.is_some() || var("AWS_PROFILE").is_some() {
            source.profile_kind = Some("missing");
            source.summary =
                format!("profile {name}, which is in neither the config nor the credentials file");
            return Ok(source);
        }
        // No default profile: the chain goes on to the sources that need no file.
        return Ok(after_profiles());
    };
    let get = |k: &str| profile.get(k).filter(|v| !v.is_empty());
    let (kind, detail) = if let Some(role) = get("role_arn") {
        if let Some(src) = get("source_profile") {
            ("assume-role", format!("assumes {role} from profile {src}"))
        } else if let Some(src) = get("credential_source") {
            ("assume-role", format!("assumes {role} from {src}"))
        } else if get("web_identity_token_file").is_some() {
            ("web-identity", format!("web identity for {role}"))
        } else {
            ("assume-role", format!("assumes {role}"))
        }
    } else if get("sso_session").is_some() || get("sso_start_url").is_some() {
        let session = get("sso_session")
            .map(|s| format!(" (session {s})"))
            .unwrap_or_default();
        (
            "sso",
            format!("IAM Identity Center{session}; `aws sso login` when it expires"),
        )
    } else if get("credential_process").is_some() {
        ("credential-process", "credential_process".to_string())
    } else if let Some(id) = get("aws_access_key_id") {
        ("static-keys", format!("access key {}", mask_key_id(id)))
    } else if get("login_session").is_some() {
        ("login", "`aws login` session".to_string())
    } else if profile_override.is_none() && var("AWS_PROFILE").is_none() {
        // A default profile with only settings such as `region`: the chain goes on.
        return Ok(after_profiles());
    } else {
        ("unknown", "no credential settings".to_string())
    };
    source.profile_kind = Some(kind);
    source.summary = format!("{}: {detail}", source.summary);
    Ok(source)
}

/// The chain's steps after the profile files.
fn after_profiles() -> Source {
    let source = |kind, summary: String| Source {
        kind,
        profile_kind: None,
        profile: None,
        summary,
    };
    if let (Some(role), Some(_)) = (var("AWS_ROLE_ARN"), var("AWS_WEB_IDENTITY_TOKEN_FILE")) {
        return source(
            "web-identity",
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
        return source("container", format!("container credentials ({which})"));
    }
    if var("AWS_EC2_METADATA_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return source(
            "none",
            "none: no keys, no profile, no web identity, no container credentials, and instance metadata is disabled (AWS_EC2_METADATA_DISABLED)".into(),
        );
    }
    source(
        "instance-metadata",
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
