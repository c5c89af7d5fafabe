//! A pod's own role (KEP-4412): the service account annotation or `AWS_ECR_ROLE_ARN`, and the
//! claims of the pod's service account token that a role's trust policy can tell apart.

use crate::credentials::PodRole;
use crate::kubelet::{KubeletError, ProviderRequest};
use crate::settings::Settings;
use base64::Engine;
use serde::Deserialize;

/// The service account annotation naming the role a pod pulls its images with.
pub const ROLE_ANNOTATION: &str = "eks.amazonaws.com/ecr-role-arn";
/// The role for pods whose service account has no annotation (only with a token).
pub const ROLE_ENV: &str = "AWS_ECR_ROLE_ARN";

/// The pod's own role, when it has one and a token to assume it with.
///
/// A cache hit skips STS, and STS (the role's trust policy) is what decides whether a service
/// account may use a role. Anyone who can create a service account can annotate it with any
/// role ARN, so an entry keyed by the role alone would hand one service account's token to
/// another that the trust policy refuses. Entries are therefore keyed by the role and by the
/// token's `iss`, `sub` and `aud`: exactly what a trust policy can tell apart. The claims are
/// read, not verified: the kubelet minted the token for this pod, and STS verifies it.
pub fn pod_role(
    settings: &Settings,
    request: &ProviderRequest,
) -> Result<Option<PodRole>, KubeletError> {
    let annotated = request
        .service_account_annotations
        .get(ROLE_ANNOTATION)
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty());
    let from_env = || {
        settings
            .nonempty(ROLE_ENV)
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty())
    };
    let token = match (&annotated, &request.service_account_token) {
        (_, Some(token)) => token,
        // The pod asked for a role that cannot be assumed: its images must not silently come
        // with the node's credentials instead.
        (Some(role), None) => return Err(KubeletError::NoServiceAccountToken(role.clone())),
        (None, None) => return Ok(None),
    };
    let (role, source_name) = match annotated {
        Some(role) => (role, format!("the annotation {ROLE_ANNOTATION}")),
        None => match from_env() {
            Some(role) => (role, ROLE_ENV.to_string()),
            None => return Ok(None),
        },
    };
    if !crate::credentials::is_role_arn(&role) {
        return Err(KubeletError::RoleArn {
            arn: role,
            source_name,
        });
    }
    let claims = claims(token.expose())?;
    Ok(Some(PodRole {
        session_name: session_name(&claims.sub),
        claims: [claims.iss.clone(), claims.sub.clone(), claims.audience()],
        role_arn: role,
        token: token.clone(),
    }))
}

/// The claims of a service account token that a role's trust policy can test.
#[derive(Debug, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    #[serde(default)]
    pub aud: Audience,
}

#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl Claims {
    /// The audiences, sorted, as one string.
    fn audience(&self) -> String {
        let mut all = match &self.aud {
            Audience::None => Vec::new(),
            Audience::One(a) => vec![a.clone()],
            Audience::Many(v) => v.clone(),
        };
        all.sort();
        all.join("\n")
    }
}

/// Reads a JWT's payload without verifying it.
pub fn claims(token: &str) -> Result<Claims, KubeletError> {
    let mut parts = token.trim().split('.');
    let (Some(_header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(KubeletError::ServiceAccountToken(
            "it does not have three parts",
        ));
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| KubeletError::ServiceAccountToken("its payload is not base64url"))?;
    let claims: Claims = serde_json::from_slice(&bytes)
        .map_err(|_| KubeletError::ServiceAccountToken("its payload lacks iss or sub"))?;
    if claims.iss.is_empty() || claims.sub.is_empty() {
        return Err(KubeletError::ServiceAccountToken("iss or sub is empty"));
    }
    Ok(claims)
}

/// `ecr-login.<namespace>.<name>` for `system:serviceaccount:<namespace>:<name>`, so CloudTrail
/// shows which service account pulled; within STS's 64 characters of `[\w+=,.@-]`.
pub fn session_name(sub: &str) -> String {
    let name = match sub.strip_prefix("system:serviceaccount:") {
        Some(rest) => format!("ecr-login.{}", rest.replace(':', ".")),
        None => "ecr-login".to_string(),
    };
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(*c))
        .take(64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: &str) -> String {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.sig", b64(r#"{"alg":"RS256"}"#), b64(payload))
    }

    #[test]
    fn reads_token_claims() {
        let c = claims(&jwt(
            r#"{"iss":"https://oidc.example","sub":"system:serviceaccount:ns:sa","aud":["b","a"]}"#,
        ))
        .unwrap();
        assert_eq!(c.sub, "system:serviceaccount:ns:sa");
        assert_eq!(c.audience(), "a\nb");
        let c = claims(&jwt(r#"{"iss":"i","sub":"s","aud":"x"}"#)).unwrap();
        assert_eq!(c.audience(), "x");
        for bad in [
            "not-a-jwt".to_string(),
            "a.b".to_string(),
            "a.%%%.c".to_string(),
            jwt(r#"{"sub":"s"}"#),
            jwt(r#"{"iss":"","sub":"s"}"#),
            jwt("[]"),
            format!("{}.x", jwt(r#"{"iss":"i","sub":"s"}"#)),
        ] {
            assert!(claims(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn session_names() {
        assert_eq!(
            session_name("system:serviceaccount:team-a:puller"),
            "ecr-login.team-a.puller"
        );
        assert_eq!(session_name("someone"), "ecr-login");
        let long = format!("system:serviceaccount:{}:x", "n".repeat(100));
        assert_eq!(session_name(&long).len(), 64);
    }
}
