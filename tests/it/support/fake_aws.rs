//! A fake AWS endpoint on 127.0.0.1 that speaks the wire protocols we call (AWS JSON 1.1 for ECR
//! and ECR Public, the query protocol for STS), counts calls, and misbehaves on request.
//!
//! One plain-threaded HTTP/1.1 server answers every service; the `X-Amz-Target` header or the
//! form's `Action` says which operation was called. Each connection serves one request and is
//! closed, which keeps the parser trivial and is valid HTTP.

#![allow(dead_code)]

use base64::Engine;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What the fake does with the next call.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A token (the default).
    Token,
    /// HTTP 400 `ThrottlingException`.
    Throttle,
    /// HTTP 500 `ServerException`.
    ServerError,
    /// HTTP 400 `AccessDeniedException` with an IAM-style message.
    AccessDenied,
    /// Accept the request and never answer (until the server is dropped).
    Hang,
    /// A token whose `authorizationToken` is this string verbatim.
    RawToken(String),
    /// This HTTP status and body verbatim (for answers the SDK cannot parse).
    Body(u16, String),
}

/// One call the fake received.
#[derive(Debug, Clone)]
pub struct Call {
    /// `ecr`, `ecr-public`, or `sts:<Action>`.
    pub service: String,
    /// The region from the SigV4 credential scope (`-` when unsigned).
    pub region: String,
    /// The access key id from the SigV4 credential scope (`-` when unsigned).
    pub access_key: String,
    /// The form body for STS calls.
    pub form: Vec<(String, String)>,
    /// The `X-Amz-Security-Token` header: the session token of temporary credentials.
    pub session_token: Option<String>,
}

#[derive(Default)]
struct State {
    calls: Vec<Call>,
    script: VecDeque<Reply>,
    default_reply: Option<Reply>,
    delay: Duration,
    lifetime: Option<Duration>,
    password: Option<String>,
    /// Every password handed out, with its expiry (Unix seconds).
    issued: Vec<(String, f64)>,
    /// AWS's clock minus ours: what the `Date` header and `expiresAt` are counted from.
    clock_offset: f64,
    /// `expiresAt` verbatim, whatever the clock.
    expires_at: Option<f64>,
    /// Send no `Date` header.
    no_date: bool,
    /// The role the instance-metadata endpoint names.
    imds_role: String,
    /// The HTTP status the container and instance-metadata credential endpoints answer with
    /// (429, 500 or 403); `None` for success.
    credential_status: Option<u16>,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    stopping: AtomicBool,
    counter: AtomicU64,
}

/// Opens a connection to the fake's address, to wake its accept loop when it is dropped.
type Waker = Box<dyn Fn(std::net::SocketAddr) + Send + Sync>;

pub struct FakeAws {
    shared: Arc<Shared>,
    addr: std::net::SocketAddr,
    wake: Waker,
}

pub const STS_DENIED_MESSAGE: &str = "Not authorized to perform sts:AssumeRoleWithWebIdentity";
pub const IAM_MESSAGE: &str = "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ecr:GetAuthorizationToken on resource: * because no identity-based policy allows the ecr:GetAuthorizationToken action";

impl FakeAws {
    pub fn start() -> FakeAws {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        FakeAws::start_on(
            listener,
            Box::new(|addr| {
                let _ = TcpStream::connect(addr);
            }),
        )
    }

    /// Serves on a listener bound elsewhere (in a network namespace a test made); `wake`
    /// connects to it from where it can be reached.
    pub fn start_on(listener: TcpListener, wake: Waker) -> FakeAws {
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            stopping: AtomicBool::new(false),
            counter: AtomicU64::new(0),
        });
        let accept_shared = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept_shared.stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let shared = accept_shared.clone();
                std::thread::spawn(move || handle(stream, &shared));
            }
        });
        FakeAws { shared, addr, wake }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Replies for the next calls, in order; after them, the default reply.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state().script.extend(replies);
    }

    /// The reply once the script is used up (a token unless set).
    pub fn always(&self, reply: Reply) {
        self.state().default_reply = Some(reply);
    }

    /// How long every answer waits.
    pub fn set_delay(&self, delay: Duration) {
        self.state().delay = delay;
    }

    /// How long issued tokens last (12 hours unless set).
    pub fn set_lifetime(&self, lifetime: Duration) {
        self.state().lifetime = Some(lifetime);
    }

    /// AWS's clock runs `offset` seconds ahead of ours (negative: behind).
    pub fn set_clock_offset(&self, offset: f64) {
        self.state().clock_offset = offset;
    }

    /// Every token's `expiresAt`, verbatim.
    pub fn set_expires_at(&self, expires_at: f64) {
        self.state().expires_at = Some(expires_at);
    }

    /// Answer without a `Date` header.
    pub fn without_date(&self) {
        self.state().no_date = true;
    }

    /// The instance role that the instance-metadata endpoint names (and whose credentials it
    /// gives: key id `ASIAIMDS<ROLE>`).
    /// Makes the container and instance-metadata credential endpoints fail with `status`.
    pub fn set_credential_status(&self, status: Option<u16>) {
        self.state().credential_status = status;
    }

    pub fn set_imds_role(&self, role: &str) {
        self.state().imds_role = role.to_string();
    }

    /// The base URL of the instance-metadata endpoint (`AWS_EC2_METADATA_SERVICE_ENDPOINT`).
    pub fn imds_url(&self) -> String {
        self.url()
    }

    /// A container credentials URL (`AWS_CONTAINER_CREDENTIALS_FULL_URI`): the key id it gives
    /// is derived from the `Authorization` header, so two pods' tokens get two identities.
    pub fn container_url(&self) -> String {
        format!("{}/container-credentials", self.url())
    }

    /// Every token's password (otherwise each token gets a unique one).
    pub fn set_password(&self, password: &str) {
        self.state().password = Some(password.to_string());
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    /// Calls to `service` (`ecr`, `ecr-public`, `sts:AssumeRole`, ...).
    pub fn count(&self, service: &str) -> usize {
        self.state()
            .calls
            .iter()
            .filter(|c| c.service == service)
            .count()
    }

    /// Every password issued so far, with the expiry it was issued with (Unix seconds).
    pub fn issued(&self) -> Vec<(String, f64)> {
        self.state().issued.clone()
    }

    pub fn total(&self) -> usize {
        self.state().calls.len()
    }

    /// Waits until at least `n` calls arrived, or panics after `limit`.
    pub fn wait_for_calls(&self, n: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        let mut state = self.state();
        while state.calls.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "the fake got {} calls, expected {n}",
                state.calls.len()
            );
            state = self.shared.changed.wait_timeout(state, left).unwrap().0;
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for FakeAws {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.shared.changed.notify_all();
        // Wake the accept loop so it sees the flag.
        (self.wake)(self.addr);
    }
}

fn handle(mut stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let Some((request_line, headers, body)) = read_request(&mut stream) else {
        return;
    };
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    if let Some(reply) = signin_endpoint(&request_line, &header, &body, shared) {
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
            reply.len()
        );
        let _ = stream.write_all(response.as_bytes());
        return;
    }
    if let Some(reply) = credential_endpoint(&request_line, &header, shared) {
        let status = match shared
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .credential_status
        {
            Some(429) => "429 Too Many Requests",
            Some(500) => "500 Internal Server Error",
            Some(_) => "403 Forbidden",
            None => "200 OK",
        };
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nx-aws-ec2-metadata-token-ttl-seconds: 21600\r\nConnection: close\r\n\r\n{reply}",
            reply.len()
        );
        let _ = stream.write_all(response.as_bytes());
        return;
    }
    let target = header("x-amz-target").unwrap_or_default();
    let form: Vec<(String, String)> = if target.is_empty() {
        parse_form(&body)
    } else {
        Vec::new()
    };
    let service = if target.starts_with("AmazonEC2ContainerRegistry_V20150921.") {
        "ecr".to_string()
    } else if target.starts_with("SpencerFrontendService.") {
        "ecr-public".to_string()
    } else if let Some((_, action)) = form.iter().find(|(k, _)| k == "Action") {
        format!("sts:{action}")
    } else if request_line.contains(" /federation/credentials") {
        // The SSO portal's GetRoleCredentials (restJson), with the SSO access token.
        "sso".to_string()
    } else {
        "unknown".to_string()
    };
    let (access_key, region) = header("authorization")
        .and_then(|auth| {
            let cred = auth.split("Credential=").nth(1)?;
            let mut parts = cred.split('/');
            let key = parts.next()?.to_string();
            let _date = parts.next()?;
            Some((key, parts.next()?.to_string()))
        })
        .unwrap_or_else(|| ("-".into(), "-".into()));

    let (reply, delay, lifetime, password, clock_offset, fixed_expiry, no_date) = {
        let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
        state.calls.push(Call {
            service: service.clone(),
            region: region.clone(),
            access_key: access_key.clone(),
            form: form.clone(),
            session_token: header("x-amz-security-token"),
        });
        shared.changed.notify_all();
        let reply = state
            .script
            .pop_front()
            .or_else(|| state.default_reply.clone())
            .unwrap_or(Reply::Token);
        (
            reply,
            state.delay,
            state.lifetime,
            state.password.clone(),
            state.clock_offset,
            state.expires_at,
            state.no_date,
        )
    };
    if !delay.is_zero() {
        std::thread::sleep(delay);
    }
    let n = shared.counter.fetch_add(1, Ordering::SeqCst);
    let lifetime = lifetime.unwrap_or(Duration::from_secs(12 * 3600));
    let server_now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        + clock_offset;
    let expires = fixed_expiry.unwrap_or(server_now + lifetime.as_secs_f64());
    let password = password.unwrap_or_else(|| {
        format!(
            "pw-{service}-{region}-{n}-k{}",
            &access_key[access_key.len().saturating_sub(4)..]
        )
    });
    let token = base64::engine::general_purpose::STANDARD.encode(format!("AWS:{password}"));
    let (status, content_type, body) = match reply {
        Reply::Hang => {
            while !shared.stopping.load(Ordering::SeqCst) {
                let state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
                let _ = shared
                    .changed
                    .wait_timeout(state, Duration::from_millis(200));
            }
            return;
        }
        // STS speaks the query protocol: its errors are XML.
        Reply::AccessDenied if service.starts_with("sts:") => {
            xml_error(403, "AccessDenied", STS_DENIED_MESSAGE)
        }
        Reply::Throttle if service.starts_with("sts:") => {
            xml_error(400, "Throttling", "Rate exceeded")
        }
        Reply::Throttle if service == "sso" => {
            json_error(429, "TooManyRequestsException", "Rate exceeded")
        }
        Reply::AccessDenied if service == "sso" => json_error(
            401,
            "UnauthorizedException",
            "Session token not found or invalid",
        ),
        Reply::Throttle => json_error(400, "ThrottlingException", "Rate exceeded"),
        Reply::ServerError => json_error(500, "ServerException", "internal failure"),
        Reply::AccessDenied => json_error(400, "AccessDeniedException", IAM_MESSAGE),
        Reply::Body(status, body) => (status, "application/x-amz-json-1.1", body),
        Reply::Token | Reply::RawToken(_) => {
            let token = match reply {
                Reply::RawToken(raw) => raw,
                _ => {
                    if matches!(service.as_str(), "ecr" | "ecr-public") {
                        let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
                        state.issued.push((password.clone(), expires));
                    }
                    token
                }
            };
            match service.as_str() {
                "ecr" => (
                    200,
                    "application/x-amz-json-1.1",
                    format!(
                        r#"{{"authorizationData":[{{"authorizationToken":"{token}","expiresAt":{expires:.3},"proxyEndpoint":"https://123456789012.dkr.ecr.{region}.amazonaws.com"}}]}}"#
                    ),
                ),
                "ecr-public" => (
                    200,
                    "application/x-amz-json-1.1",
                    format!(
                        r#"{{"authorizationData":{{"authorizationToken":"{token}","expiresAt":{expires:.3}}}}}"#
                    ),
                ),
                s if s.starts_with("sts:") => sts_reply(s, &form, n),
                "sso" => {
                    let bearer = header("x-amz-sso_bearer_token").unwrap_or_default();
                    let tag: String = bearer
                        .chars()
                        .filter(|c| c.is_ascii_alphanumeric())
                        .take(8)
                        .collect::<String>()
                        .to_uppercase();
                    (
                        200,
                        "application/json",
                        format!(
                            r#"{{"roleCredentials":{{"accessKeyId":"ASIASSO{tag}","secretAccessKey":"sso-secret-{n}","sessionToken":"sso-session-{n}","expiration":4102444800000}}}}"#
                        ),
                    )
                }
                _ => json_error(400, "UnknownOperationException", "unknown operation"),
            }
        }
    };
    let date = if no_date {
        String::new()
    } else {
        format!("Date: {}\r\n", http_date(server_now))
    };
    let response = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nx-amzn-RequestId: fake-{n}\r\n{date}Connection: close\r\n\r\n{body}",
        if status == 200 { "OK" } else { "Error" },
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.flush();
}

fn json_error(status: u16, code: &str, message: &str) -> (u16, &'static str, String) {
    (
        status,
        "application/x-amz-json-1.1",
        format!(r#"{{"__type":"{code}","message":"{message}"}}"#),
    )
}

fn xml_error(status: u16, code: &str, message: &str) -> (u16, &'static str, String) {
    (
        status,
        "text/xml",
        format!(
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>fake</RequestId></ErrorResponse>"
        ),
    )
}

fn sts_reply(service: &str, form: &[(String, String)], n: u64) -> (u16, &'static str, String) {
    let action = service.trim_start_matches("sts:");
    let get = |k: &str| {
        form.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    if action == "GetCallerIdentity" {
        return (
            200,
            "text/xml",
            format!(
                "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/fake</Arn><UserId>AIDAFAKE</UserId><Account>123456789012</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>fake-{n}</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
            ),
        );
    }
    let role = get("RoleArn");
    let role_tag: String = role
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_uppercase();
    let tail = &role_tag[role_tag.len().saturating_sub(8)..];
    let expiration = "2099-01-01T00:00:00Z";
    (
        200,
        "text/xml",
        format!(
            "<{action}Response xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><{action}Result><Credentials><AccessKeyId>ASIA{tail}{n}</AccessKeyId><SecretAccessKey>sts-secret-{n}</SecretAccessKey><SessionToken>sts-session-{n}</SessionToken><Expiration>{expiration}</Expiration></Credentials><AssumedRoleUser><Arn>{role}/ecr-login</Arn><AssumedRoleId>AROAFAKE:ecr-login</AssumedRoleId></AssumedRoleUser></{action}Result><ResponseMetadata><RequestId>fake-{n}</RequestId></ResponseMetadata></{action}Response>"
        ),
    )
}

/// The request line, the headers and the body.
type Request = (String, Vec<(String, String)>, String);

fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let request_line = line.trim_end().to_string();
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if let Some((k, v)) = trimmed.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; len.min(1 << 20)];
    reader.read_exact(&mut body).ok()?;
    Some((
        request_line,
        headers,
        String::from_utf8_lossy(&body).into_owned(),
    ))
}

/// The container and instance-metadata credential endpoints: `Some(body)` when the request
/// was for one of them. Each answer is counted as a call to `container` or `imds`.
fn credential_endpoint(
    request_line: &str,
    header: &dyn Fn(&str) -> Option<String>,
    shared: &Shared,
) -> Option<String> {
    let mut parts = request_line.split(' ');
    let (method, path) = (parts.next()?, parts.next()?);
    let creds = |key_id: String| {
        format!(
            r#"{{"Code":"Success","Type":"AWS-HMAC","AccessKeyId":"{key_id}","SecretAccessKey":"cred-secret","Token":"cred-session","Expiration":"2099-01-01T00:00:00Z","LastUpdated":"2026-01-01T00:00:00Z"}}"#
        )
    };
    let tag = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_uppercase()
    };
    let (service, body) = if path.starts_with("/container-credentials") {
        let auth = header("authorization").unwrap_or_default();
        ("container", creds(format!("ASIACONT{}", tag(&auth))))
    } else if method == "PUT" && path == "/latest/api/token" {
        ("imds", "fake-imds-session".to_string())
    } else if path == "/latest/meta-data/iam/security-credentials/" {
        let state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
        let role = if state.imds_role.is_empty() {
            "role-a"
        } else {
            &state.imds_role
        };
        ("imds", role.to_string())
    } else if let Some(role) = path.strip_prefix("/latest/meta-data/iam/security-credentials/") {
        ("imds", creds(format!("ASIAIMDS{}", tag(role))))
    } else if let Some(query) = path.strip_prefix("/federation/credentials?") {
        // IAM Identity Center's GetRoleCredentials (`AWS_ENDPOINT_URL_SSO`): keys named after
        // the account and role asked for, counted as `sso`.
        let param = |name: &str| {
            query
                .split('&')
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                .unwrap_or_default()
                .to_string()
        };
        let who = tag(&format!("{}{}", param("role_name"), param("account_id")));
        let key_id = format!("ASIASSO{}", &who[who.len().saturating_sub(8)..]);
        (
            "sso",
            format!(
                r#"{{"roleCredentials":{{"accessKeyId":"{key_id}","secretAccessKey":"sso-secret","sessionToken":"sso-session","expiration":4070908800000}}}}"#
            ),
        )
    } else {
        return None;
    };
    let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
    state.calls.push(Call {
        service: service.to_string(),
        region: "-".into(),
        access_key: "-".into(),
        form: Vec::new(),
        session_token: None,
    });
    shared.changed.notify_all();
    Some(body)
}

/// The civil date (year, month, day; the proleptic Gregorian calendar) of a day counted from
/// 1970-01-01 (Howard Hinnant's civil_from_days).
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`) for Unix seconds.
fn http_date(secs: f64) -> String {
    let secs = secs.floor() as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    format!(
        "{}, {d:02} {} {y:04} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn parse_form(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// AWS Sign-In's token endpoint (`POST /v1/token`, what refreshes an `aws login` session):
/// `Some(body)` when the request was for it. Counted as a call to `signin`, whose `form` holds
/// the request's `grantType`, `clientId` and `refreshToken`, and `dpop` (whether the request
/// carried a DPoP proof). Each answer's keys are `ASIASIGNIN<n>`, its refresh token
/// `refreshed-<n>`, valid for 15 minutes.
fn signin_endpoint(
    request_line: &str,
    header: &dyn Fn(&str) -> Option<String>,
    body: &str,
    shared: &Shared,
) -> Option<String> {
    let mut parts = request_line.split(' ');
    let (method, path) = (parts.next()?, parts.next()?);
    if method != "POST" || path != "/v1/token" {
        return None;
    }
    let request: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let field = |k: &str| request[k].as_str().unwrap_or_default().to_string();
    let mut form = vec![
        ("grantType".to_string(), field("grantType")),
        ("clientId".to_string(), field("clientId")),
        ("refreshToken".to_string(), field("refreshToken")),
    ];
    form.push((
        "dpop".to_string(),
        if header("dpop").is_some() {
            "present"
        } else {
            "absent"
        }
        .to_string(),
    ));
    let n = shared.counter.fetch_add(1, Ordering::SeqCst);
    let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
    state.calls.push(Call {
        service: "signin".to_string(),
        region: "-".to_string(),
        access_key: "-".to_string(),
        form,
        session_token: None,
    });
    shared.changed.notify_all();
    Some(format!(
        r#"{{"accessToken":{{"accessKeyId":"ASIASIGNIN{n}","secretAccessKey":"signin-secret-{n}","sessionToken":"signin-session-{n}"}},"tokenType":"aws_sigv4","expiresIn":900,"refreshToken":"refreshed-{n}"}}"#
    ))
}
