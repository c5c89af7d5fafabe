//! A pod's own role (KEP-4412): the service account annotation or `AWS_ECR_ROLE_ARN`, and the
//! claims of the pod's service account token that a role's trust policy can tell apart.

use crate::app::kubelet_api::{KubeletError, ProviderRequest};
use crate::aws::web_identity::PodRole;
use crate::util::settings::Settings;
use base64::Engine;
use serde_json::{Map, Value};

/// The service account annotation naming the role a pod pulls its images with.
pub(crate) const ROLE_ANNOTATION: &str = "eks.amazonaws.com/ecr-role-arn";
/// The role for pods whose service account has no annotation (only with a token).
pub(crate) const ROLE_ENV: &str = "AWS_ECR_ROLE_ARN";
/// IRSA's annotation: the role the pod's own AWS SDKs assume. Not read for pulls (the
/// reference plugin does not either): a pod's image role is a separate grant.
pub(crate) const IRSA_ANNOTATION: &str = "eks.amazonaws.com/role-arn";

/// The pod's own role, when it has one and a token to assume it with.
///
/// A cache hit skips STS, and STS (the role's trust policy) is what decides whether a service
/// account may use a role. Anyone who can create a service account can annotate it with any
/// role ARN, so an entry keyed by the role alone would hand one service account's token to
/// another that the trust policy refuses. Entries are therefore keyed by the role and by the
/// token's `iss`, `sub` and `aud`: exactly what a trust policy can tell apart. The claims are
/// read, not verified: the kubelet minted the token for this pod, and STS verifies it.
pub(crate) fn pod_role(
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
    if annotated.is_none() {
        explain_irsa_only(request, from_env().as_deref());
    }
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
    if !crate::host::names::is_role_arn(&role) {
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

/// A service account with IRSA's annotation but not ours pulls with other credentials than
/// its annotation suggests; users of the reference plugin trip on this, so the log says which
/// annotation is read and what is used instead (one line).
fn explain_irsa_only(request: &ProviderRequest, env_role: Option<&str>) {
    let Some(irsa) = request
        .service_account_annotations
        .get(IRSA_ANNOTATION)
        .filter(|r| !r.trim().is_empty())
    else {
        return;
    };
    let instead = match (env_role, &request.service_account_token) {
        (Some(role), Some(_)) => format!("pulling with {ROLE_ENV}'s role {role}"),
        _ => "pulling with the node's credentials".to_string(),
    };
    crate::util::log::warning!(
        "the service account has {IRSA_ANNOTATION} ({irsa}) but not {ROLE_ANNOTATION}, the annotation this plugin reads for image pulls: {instead}; to pull with that role, annotate the service account with {ROLE_ANNOTATION} too"
    );
}

/// The claims of a service account token that a role's trust policy can test.
#[derive(Debug)]
pub(crate) struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: Audience,
}

#[derive(Debug, Default)]
pub(crate) enum Audience {
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

/// Reads a JWT's payload without verifying it. Errors name the claim that is wrong and what
/// it should be, never its value.
pub(crate) fn claims(token: &str) -> Result<Claims, KubeletError> {
    let payload = payload(token)?;
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(&payload) else {
        return Err(KubeletError::ServiceAccountToken(
            "its payload is not a JSON object",
        ));
    };
    Ok(Claims {
        iss: string_claim(&map, "iss")?,
        sub: string_claim(&map, "sub")?,
        aud: audience(&map)?,
    })
}

/// The decoded middle part of `header.payload.signature`.
fn payload(token: &str) -> Result<Vec<u8>, KubeletError> {
    let mut parts = token.trim().split('.');
    let (Some(_header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(KubeletError::ServiceAccountToken(
            "it does not have three parts",
        ));
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| KubeletError::ServiceAccountToken("its payload is not base64url"))
}

fn claim_error(claim: &'static str, problem: String) -> KubeletError {
    KubeletError::Claim { claim, problem }
}

/// A claim that must be a non-empty string (`iss`, `sub`).
fn string_claim(map: &Map<String, Value>, name: &'static str) -> Result<String, KubeletError> {
    match map.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::String(_)) => Err(claim_error(
            name,
            "is empty; expected a non-empty string".into(),
        )),
        None | Some(Value::Null) => Err(claim_error(name, "is missing".into())),
        Some(other) => Err(claim_error(
            name,
            format!("is {}; expected a string", json_kind(other)),
        )),
    }
}

/// `aud`: absent, a string, or an array of strings (RFC 7519, 4.1.3).
fn audience(map: &Map<String, Value>) -> Result<Audience, KubeletError> {
    const EXPECTED: &str = "expected a string or an array of strings";
    match map.get("aud") {
        None | Some(Value::Null) => Ok(Audience::None),
        Some(Value::String(s)) => Ok(Audience::One(s.clone())),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(claim_error(
                    "aud",
                    format!("has an element that is {}; {EXPECTED}", json_kind(other)),
                )),
            })
            .collect::<Result<_, _>>()
            .map(Audience::Many),
        Some(other) => Err(claim_error(
            "aud",
            format!("is {}; {EXPECTED}", json_kind(other)),
        )),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `ecr-login.<namespace>.<name>` for `system:serviceaccount:<namespace>:<name>`, so CloudTrail
/// shows which service account pulled; within STS's 64 characters of `[\w+=,.@-]`.
pub(crate) fn session_name(sub: &str) -> String {
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
    fn claim_errors_name_the_claim() {
        for (payload, expected) in [
            (
                r#"{"iss":"i","sub":"s","aud":7}"#,
                "claim aud is a number; expected a string or an array of strings",
            ),
            (
                r#"{"iss":"i","sub":"s","aud":{"a":1}}"#,
                "claim aud is an object; expected",
            ),
            (
                r#"{"iss":"i","sub":"s","aud":["a",null]}"#,
                "claim aud has an element that is null",
            ),
            (r#"{"sub":"s"}"#, "claim iss is missing"),
            (r#"{"iss":true,"sub":"s"}"#, "claim iss is a boolean"),
            (r#"{"iss":"i","sub":""}"#, "claim sub is empty"),
            ("[]", "payload is not a JSON object"),
        ] {
            let err = claims(&jwt(payload)).unwrap_err().to_string();
            assert!(err.contains(expected), "{payload}: {err}");
        }
        let c = claims(&jwt(r#"{"iss":"i","sub":"s","aud":null}"#)).unwrap();
        assert_eq!(c.audience(), "");
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
