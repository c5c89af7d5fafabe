//! The kubelet image credential provider protocol (`credentialprovider.kubelet.k8s.io`).
//!
//! The kubelet runs `<bin dir>/ecr-credential-provider` (a link to this binary) for every image
//! its `CredentialProviderConfig` routes here, writes one `CredentialProviderRequest` to stdin
//! and reads one `CredentialProviderResponse` from stdout. It decodes the answer strictly, so
//! stdout carries that JSON object and nothing else; on failure stdout stays empty, the exit
//! code is 1 and stderr gets one line, which the kubelet puts in its error.
//!
//! The token comes from the same data path as Docker's (host rules, regions, endpoints, disk
//! cache); what is specific here is reading the image, the fallback region for hosts that are
//! not ECR (pull-through caches and mirrors), and the pod's own role (KEP-4412), whose STS call
//! runs only on a cache miss.

use crate::app::exit::Exit;
use crate::app::kubelet_api::{
    ApiVersion, KubeletError, MAX_REQUEST, ProviderRequest, REQUEST_KIND, RESPONSE_KIND,
};
use crate::app::pod_role;
use crate::aws::credentials::{Base, CredentialSource};
use crate::aws::error::Error;
use crate::cache;
use crate::engine::context::Context;
use crate::engine::resolve;
use crate::engine::token::{self, Token};
use crate::host::registry::{self, EcrHost, HostError};
use crate::util::log::{debug, error, info};
use crate::util::redact::quote;
use crate::util::settings::Settings;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::mpsc;
use std::time::Duration;

/// The kubelet kills a plugin after a minute and then pulls without credentials. Whatever
/// `AWS_ECR_TIMEOUT` says, we answer (with an error) before that.
pub(crate) const HARD_LIMIT: Duration = Duration::from_secs(50);

/// `--help` of the plugin, and the long help of `docker-credential-ecr-login kubelet`.
pub(crate) const HELP: &str = "\
usage: ecr-credential-provider [ARGS...]
       docker-credential-ecr-login kubelet [ARGS...]

The kubelet's image credential provider plugin (credentialprovider.kubelet.k8s.io v1,
v1beta1, v1alpha1). The kubelet runs it for each image its CredentialProviderConfig
routes here: it reads one CredentialProviderRequest on stdin and prints one
CredentialProviderResponse (an ECR token for the image's registry) on stdout. On
failure stdout stays empty, the exit code is 1, and stderr says why in one line.

Install: link this binary as ecr-credential-provider into the directory of the kubelet's
--image-credential-provider-bin-dir, and name it in --image-credential-provider-config
(an example: /usr/share/doc/ecr-login/credential-provider-config.yaml).

Credentials: the standard AWS chain of the kubelet's environment (the config's env
block), or the pod's own role when its service account is annotated with
eks.amazonaws.com/ecr-role-arn and the config has tokenAttributes. Hosts that are not
ECR (mirrors, pull-through caches) get the token of AWS_REGION (or the AWS config's
region). Set AWS_ECR_CACHE_DIR: the kubelet usually runs without HOME.

ARGS from the config's args are accepted and ignored.
  -h, --help       this help
  -V, --version    the version and commit";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProviderResponse<'a> {
    kind: &'static str,
    api_version: &'a str,
    cache_key_type: &'static str,
    cache_duration: String,
    auth: BTreeMap<&'a str, AuthConfig<'a>>,
}

#[derive(Serialize)]
struct AuthConfig<'a> {
    username: &'a str,
    password: &'a str,
}

/// Runs the front end.
pub(crate) fn run(settings: Settings, args: &[String]) -> Exit {
    match args {
        [a] if matches!(a.as_str(), "--version" | "-V" | "-v" | "version") => {
            return crate::app::process::print(&format_args!(
                "{} (ecr-login) {}\n",
                crate::app::program::KUBELET_NAME,
                crate::app::program::LONG_VERSION
            ));
        }
        [a] if matches!(a.as_str(), "--help" | "-h" | "help") => {
            return crate::app::process::print(&format_args!("{HELP}\n"));
        }
        // A CredentialProviderConfig may pass `args`; the reference plugin accepts them too.
        // Everything this plugin needs comes from the request and the config's `env`.
        _ => {
            if !args.is_empty() {
                debug!(
                    "ignoring {} argument(s) from the kubelet's config",
                    args.len()
                );
            }
        }
    }
    // Armed until the process has said everything, the last log line included: a log file on
    // a hung mount must not carry a failing request past the kubelet's limit.
    let watchdog = arm_watchdog(HARD_LIMIT);
    let stdin = &mut crate::util::input::Stdin::until(settings.deadline);
    let exit = match answer(&settings, stdin).and_then(write_response) {
        Ok(()) => Exit::Ok,
        Err(e) => fail(&settings, &e),
    };
    drop(watchdog);
    exit
}

/// The response on stdout: nothing else ever goes there.
fn write_response(json: String) -> Result<(), KubeletError> {
    let mut out = crate::app::process::stdout();
    let _ = writeln!(out, "{json}");
    out.finish().map_err(|e| KubeletError::Write(e.to_string()))
}

/// The response JSON for the request on `input`.
pub(crate) fn answer(settings: &Settings, input: &mut dyn Read) -> Result<String, KubeletError> {
    let raw = read_request(input)?;
    let request = parse_request(&raw)?;
    let registry = registry_of(&request.image)?;
    let token_error = |source| KubeletError::Token {
        registry: registry.clone(),
        source,
    };
    let cx = Context::load(settings.clone()).map_err(token_error)?;
    let (host, mut source) = resolve(&cx, &registry)?;
    if let Some(role) = pod_role::pod_role(settings, &request)? {
        debug!("{registry}: pulling with the pod's role {}", role.role_arn);
        source.base = Base::PodRole(role);
    }
    let token = token::token_through_throttling(&cx, &host, &source).map_err(token_error)?;
    if token.refresh_due {
        crate::app::refresh::start("kubelet", &raw);
    }
    response(&request.api_version, &registry, &token, cache::now())
}

/// Reads at most [`MAX_REQUEST`] bytes; more is an error, not something to wait for.
fn read_request(input: &mut dyn Read) -> Result<Vec<u8>, KubeletError> {
    crate::util::input::read_bounded(input, MAX_REQUEST).map_err(|e| match e {
        crate::util::input::InputError::Read(e) => KubeletError::Read(e),
        crate::util::input::InputError::TooLarge(_) => KubeletError::TooLarge,
    })
}

/// Checks kind and version, and reads the fields we use. Unknown request fields are ignored:
/// a newer kubelet may send more, and only the response is decoded strictly. Field values are
/// read by hand rather than by serde so that no error message can echo a token.
pub(crate) fn parse_request(raw: &[u8]) -> Result<ProviderRequest, KubeletError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(KubeletError::Json("stdin is empty".into()));
    }
    // Syntax errors name a position, never the input.
    let value: Value =
        serde_json::from_slice(raw).map_err(|e| KubeletError::Json(e.to_string()))?;
    let Value::Object(object) = value else {
        return Err(KubeletError::Shape("it is not a JSON object".into()));
    };
    let kind = string_field(&object, "kind")?
        .ok_or_else(|| KubeletError::Shape("it has no kind".into()))?;
    if kind != REQUEST_KIND {
        return Err(KubeletError::Shape(format!(
            "its kind is {}, not {REQUEST_KIND}",
            quote(&kind)
        )));
    }
    let api_version = string_field(&object, "apiVersion")?
        .ok_or_else(|| KubeletError::Shape("it has no apiVersion".into()))?;
    let version = ApiVersion::parse(&api_version)
        .ok_or_else(|| KubeletError::ApiVersion(quote(&api_version)))?;
    let image = string_field(&object, "image")?.unwrap_or_default();
    if image.trim().is_empty() {
        return Err(KubeletError::EmptyImage);
    }
    let (token, annotations) = if version.has_service_accounts() {
        let token = string_field(&object, "serviceAccountToken")?
            .filter(|t| !t.is_empty())
            .map(crate::util::secret::Secret::new);
        let annotations = match object.get("serviceAccountAnnotations") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    _ => Err(KubeletError::Shape(format!(
                        "the annotation {} is not a string",
                        quote(k)
                    ))),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(KubeletError::Shape(
                    "serviceAccountAnnotations is not an object".into(),
                ));
            }
        };
        (token, annotations)
    } else {
        (None, BTreeMap::new())
    };
    Ok(ProviderRequest {
        api_version,
        image,
        service_account_token: token,
        service_account_annotations: annotations,
    })
}

/// A string field; absent and `null` are `None`, any other type is an error.
fn string_field(object: &Map<String, Value>, name: &str) -> Result<Option<String>, KubeletError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(KubeletError::Shape(format!("{name} is not a string"))),
    }
}

/// The registry part of an image reference, as written (`host[:port]`): it is the answer's
/// `auth` key, which the kubelet matches against the image with the port. The kubelet sends
/// normalized references (`docker.io/library/nginx`); a bare Docker Hub name is read the way
/// Docker reads it, for completeness.
pub(crate) fn registry_of(image: &str) -> Result<String, KubeletError> {
    if image.is_empty() {
        return Err(KubeletError::EmptyImage);
    }
    let bad = |why: &str| KubeletError::Image {
        image: quote(image),
        why: why.to_string(),
    };
    if image.len() > registry::MAX_SERVER_URL_LEN {
        return Err(bad("it is too long"));
    }
    if let Some(c) = image.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad(&format!("it contains the character {c:?}")));
    }
    if image.contains("://") {
        return Err(bad("an image reference has no scheme"));
    }
    let registry = match image.split_once('/') {
        Some(("", _)) => return Err(bad("it has no registry")),
        Some((first, _)) if first.contains(['.', ':', '@']) || first == "localhost" => first,
        _ => return Ok("docker.io".to_string()),
    };
    check_domain(registry).map_err(|why| bad(&why))?;
    Ok(registry.to_string())
}

/// The reference grammar's `domain`: DNS labels of letters, digits and inner hyphens (or an
/// IPv6 literal in brackets), then an optional numeric port. No userinfo, no trailing dot: a
/// host read differently here and by the runtime could get another registry's token.
fn check_domain(domain: &str) -> Result<(), String> {
    if domain.contains('@') {
        return Err("its registry has a user name (`user@`), which image references cannot".into());
    }
    let (host, port) = if let Some(rest) = domain.strip_prefix('[') {
        let (v6, after) = rest
            .split_once(']')
            .ok_or("its registry has an unclosed `[`")?;
        if v6.is_empty() || !v6.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return Err("its registry is not an IPv6 literal".into());
        }
        match after {
            "" => (None, None),
            p => (
                None,
                Some(
                    p.strip_prefix(':')
                        .ok_or("bad text after the IPv6 literal")?,
                ),
            ),
        }
    } else {
        match domain.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(domain), None),
        }
    };
    if let Some(port) = port
        && (port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!("its registry's port {port:?} is not a number"));
    }
    if let Some(host) = host {
        if host.ends_with('.') {
            return Err("its registry host ends with a dot".into());
        }
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if !host.split('.').all(label_ok) {
            return Err("its registry is not a host name".into());
        }
    }
    Ok(())
}

/// The ECR host for `registry` and the credentials to use: an ECR host (or an alias from the
/// registry config) as such; any other host gets the private ECR token of the configured
/// region, as the reference plugin does, for pull-through caches and mirrors in front of ECR.
fn resolve(cx: &Context, registry: &str) -> Result<(EcrHost, CredentialSource), KubeletError> {
    match resolve::resolve(&cx.settings, registry) {
        Ok(resolved) => Ok(resolved),
        Err(Error::Host(HostError::NotEcr(_))) => {
            let region = crate::engine::context::default_region(cx)
                .ok_or_else(|| KubeletError::NoRegion(registry.into()))?;
            let host = fallback_host(&cx.settings, registry, &region)?;
            info!(
                "{registry} is not an ECR host; answering with the ECR token of {region}, the configured region"
            );
            Ok((host, CredentialSource::default_chain()))
        }
        Err(Error::Host(HostError::Malformed(why))) => Err(KubeletError::Image {
            image: quote(registry),
            why,
        }),
        Err(source) => Err(KubeletError::Token {
            registry: registry.into(),
            source,
        }),
    }
}

/// An [`EcrHost`] for a registry that is not ECR: the token is `region`'s private ECR token,
/// with the FIPS and dual-stack endpoints when the AWS configuration asks for them.
fn fallback_host(
    settings: &Settings,
    registry: &str,
    region: &str,
) -> Result<EcrHost, KubeletError> {
    let mut host =
        EcrHost::for_region(settings, region).ok_or_else(|| KubeletError::BadRegion {
            registry: registry.to_string(),
            region: region.to_string(),
        })?;
    let (name, port) = match registry.rsplit_once(':') {
        Some((name, port)) => (name, port.parse::<u16>().ok()),
        None => (registry, None),
    };
    host.host = name.to_ascii_lowercase();
    host.port = port;
    Ok(host)
}

/// The response JSON: exactly the five documented fields.
fn response(
    api_version: &str,
    registry: &str,
    token: &Token,
    now: f64,
) -> Result<String, KubeletError> {
    let mut auth = BTreeMap::new();
    auth.insert(
        registry,
        AuthConfig {
            username: &token.username,
            password: token.password.expose(),
        },
    );
    let answer = ProviderResponse {
        kind: RESPONSE_KIND,
        api_version,
        cache_key_type: "Registry",
        cache_duration: cache_duration(token.expires_at, now),
        auth,
    };
    serde_json::to_string(&answer).map_err(|e| KubeletError::Write(e.to_string()))
}

/// Half the token's remaining lifetime, so the kubelet asks again while the token still has
/// hours to run. Whole seconds, rounded down; `0s` ("do not cache") only for a token with
/// less than two seconds left.
pub(crate) fn cache_duration(expires_at: f64, now: f64) -> String {
    let half = ((expires_at - now) / 2.0).floor();
    let seconds = if half.is_finite() && half > 0.0 {
        half as u64
    } else {
        0
    };
    go_duration(seconds)
}

/// A duration as Go's `time.Duration.String()` prints whole seconds: `5h59m58s`, `1m0s`, `45s`.
pub(crate) fn go_duration(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// The one place the front end's failure is told: the line the kubelet shows, on stderr
/// whatever `AWS_ECR_LOG_FILE` says (and in the log file too when one is set).
fn fail(settings: &Settings, err: &KubeletError) -> Exit {
    if settings.nonempty("AWS_ECR_LOG_FILE").is_some() {
        error!("{err}");
    }
    tell(err);
    Exit::Failed
}

/// The line on stderr, never through the log file: the watchdog says it too, when the log
/// file may be what is hanging.
fn tell(err: &KubeletError) {
    crate::util::log::print(crate::util::log::Level::Error, format_args!("{err}"));
}

/// Ends the process with an error once `limit` has passed, unless the returned sender is
/// dropped first. The data path bounds itself with `AWS_ECR_TIMEOUT`; this holds even when
/// that is set above the kubelet's own limit.
fn arm_watchdog(limit: Duration) -> mpsc::Sender<()> {
    let (disarm, disarmed) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = disarmed.recv_timeout(limit) {
            tell(&KubeletError::HardLimit(limit));
            std::process::exit(Exit::Failed.code());
        }
    });
    disarm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        for (secs, text) in [
            (0, "0s"),
            (1, "1s"),
            (59, "59s"),
            (60, "1m0s"),
            (61, "1m1s"),
            (3600, "1h0m0s"),
            (21_598, "5h59m58s"),
            (43_200, "12h0m0s"),
            (90_061, "25h1m1s"),
        ] {
            assert_eq!(go_duration(secs), text);
        }
    }

    #[test]
    fn cache_duration_is_half_the_remaining_lifetime() {
        assert_eq!(cache_duration(1000.0 + 43_200.0, 1000.0), "6h0m0s");
        assert_eq!(cache_duration(1000.0 + 43_196.5, 1000.0), "5h59m58s");
        assert_eq!(cache_duration(1002.0, 1000.0), "1s");
        assert_eq!(cache_duration(1001.9, 1000.0), "0s");
        assert_eq!(cache_duration(900.0, 1000.0), "0s");
        assert_eq!(cache_duration(f64::NAN, 1000.0), "0s");
    }

    #[test]
    fn registry_part_of_images() {
        for (image, registry) in [
            (
                "123456789012.dkr.ecr.us-west-2.amazonaws.com/app:1.0",
                "123456789012.dkr.ecr.us-west-2.amazonaws.com",
            ),
            (
                "123456789012.dkr.ecr.us-west-2.amazonaws.com:443/team/app@sha256:abcd",
                "123456789012.dkr.ecr.us-west-2.amazonaws.com:443",
            ),
            ("public.ecr.aws/nginx/nginx", "public.ecr.aws"),
            (
                "mirror.example.com:5000/library/nginx",
                "mirror.example.com:5000",
            ),
            ("localhost/app", "localhost"),
            ("docker.io/library/nginx", "docker.io"),
            ("library/nginx", "docker.io"),
            ("nginx", "docker.io"),
            ("Registry.Example.COM/x", "Registry.Example.COM"),
            ("[fe80::1]:5000/x", "[fe80::1]:5000"),
        ] {
            assert_eq!(registry_of(image).unwrap(), registry, "{image}");
        }
        for image in [
            "",
            "   ",
            "https://123456789012.dkr.ecr.us-west-2.amazonaws.com/app",
            "/app",
            "evil.example.com@123456789012.dkr.ecr.us-west-2.amazonaws.com/x",
            "a b.example.com/x",
            "host.example.com\n/x",
            "  Registry.Example.COM/x  ",
            "user:pw@123456789012.dkr.ecr.us-west-2.amazonaws.com/x",
            "123456789012.dkr.ecr.us-west-2.amazonaws.com./x",
            "123456789012.dkr.ecr.us-west-2.amazonaws.com:44a/x",
            "-bad.example.com/x",
        ] {
            assert!(registry_of(image).is_err(), "{image:?} was accepted");
        }
    }

    fn request(json: &str) -> Result<ProviderRequest, KubeletError> {
        parse_request(json.as_bytes())
    }

    #[test]
    fn parses_requests() {
        let r = request(
            r#"{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":"x.example.com/a","serviceAccountToken":"t","serviceAccountAnnotations":{"k":"v"},"future":1}"#,
        )
        .unwrap();
        assert_eq!(r.api_version, "credentialprovider.kubelet.k8s.io/v1");
        assert_eq!(r.image, "x.example.com/a");
        assert_eq!(r.service_account_token.unwrap().expose(), "t");
        assert_eq!(r.service_account_annotations["k"], "v");
        let r = request(
            r#"{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1alpha1","image":"x.example.com/a","serviceAccountToken":"t"}"#,
        )
        .unwrap();
        assert!(r.service_account_token.is_none(), "v1alpha1 has no tokens");
    }

    #[test]
    fn refuses_bad_requests() {
        type Check = fn(&KubeletError) -> bool;
        let cases: &[(&str, Check)] = &[
            ("", |e| matches!(e, KubeletError::Json(_))),
            ("{", |e| matches!(e, KubeletError::Json(_))),
            ("[]", |e| matches!(e, KubeletError::Shape(_))),
            (
                r#"{"kind":"Pod","apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":"a/b"}"#,
                |e| matches!(e, KubeletError::Shape(_)),
            ),
            (
                r#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":"a/b"}"#,
                |e| matches!(e, KubeletError::Shape(_)),
            ),
            (
                r#"{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v2","image":"a/b"}"#,
                |e| matches!(e, KubeletError::ApiVersion(_)),
            ),
            (
                r#"{"kind":"CredentialProviderRequest","apiVersion":"v1","image":"a/b"}"#,
                |e| matches!(e, KubeletError::ApiVersion(_)),
            ),
            (
                r#"{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":""}"#,
                |e| matches!(e, KubeletError::EmptyImage),
            ),
            (
                r#"{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1"}"#,
                |e| matches!(e, KubeletError::EmptyImage),
            ),
            (
                r#"{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":7}"#,
                |e| matches!(e, KubeletError::Shape(_)),
            ),
            (
                r#"{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":"a/b","serviceAccountAnnotations":"secret-looking"}"#,
                |e| matches!(e, KubeletError::Shape(_)),
            ),
        ];
        for (json, expected) in cases {
            let err = request(json).expect_err(json);
            assert!(expected(&err), "{json}: {err:?}");
        }
    }

    #[test]
    fn messages_do_not_echo_tokens() {
        let json = r#"{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":"a/b","serviceAccountToken":{"t":"sekrit-token"}}"#;
        let err = request(json).unwrap_err().to_string();
        assert!(!err.contains("sekrit"), "{err}");
    }
}
