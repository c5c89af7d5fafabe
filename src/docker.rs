//! The docker-credential-helper protocol: one action argument, stdin in, stdout out.
//!
//! Every failure of `get` answers Docker's "not found" text, so that Docker goes on anonymously
//! (right for public images, and for non-ECR registries when we are the `credsStore`), and says
//! why on stderr, which Docker shows to the user. Nothing but the protocol's answer goes to
//! stdout.

use crate::cache;
use crate::credentials::CredentialSource;
use crate::error::Error;
use crate::log::error;
use crate::registry::HostError;
use crate::resolve;
use crate::settings::Settings;
use crate::token::{self, Context};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{Read, Write};

/// The exact text Docker takes as "no credentials for this registry".
pub const NOT_FOUND: &str = "credentials not found in native keychain";

/// The most we read from stdin: a server URL is far shorter, a `store` payload a few KiB.
pub const MAX_INPUT: usize = 64 * 1024;

#[derive(Serialize)]
struct Credentials<'a> {
    #[serde(rename = "ServerURL")]
    server_url: &'a str,
    #[serde(rename = "Username")]
    username: &'a str,
    #[serde(rename = "Secret")]
    secret: &'a str,
}

/// Reads at most `MAX_INPUT` bytes; more is an error, not something to wait for.
pub fn read_input(input: &mut dyn Read) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    input
        .take(MAX_INPUT as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("cannot read stdin: {e}"))?;
    if buf.len() > MAX_INPUT {
        return Err(format!("the input is longer than {MAX_INPUT} bytes"));
    }
    Ok(buf)
}

/// A short, printable rendering of untrusted input for messages. Everything up to the last `@`
/// is masked: it may be `user:password@`, and a password typed into a server URL must not reach
/// the terminal or a log file.
pub fn quote(input: &str) -> String {
    let masked = crate::redact::url(input);
    let input = masked.as_str();
    let mut s: String = input.chars().take(80).collect();
    if input.chars().count() > 80 {
        s.push_str("...");
    }
    format!("{s:?}")
}

/// `get`: the server URL on stdin, the credentials as JSON on stdout.
pub fn get(settings: Settings, input: &mut dyn Read, out: &mut dyn Write) -> i32 {
    let raw = match read_input(input) {
        Ok(raw) => raw,
        Err(why) => return not_found(out, Some(&why)),
    };
    let Ok(text) = std::str::from_utf8(&raw) else {
        return not_found(out, Some("the server URL is not valid UTF-8"));
    };
    let server_url = text.trim();
    let (host, source) = match resolve::resolve(&settings, server_url) {
        Ok(resolved) => resolved,
        Err(Error::Host(HostError::NotEcr(_))) => return not_found(out, None),
        Err(Error::Host(HostError::Malformed(why))) => {
            return not_found(out, Some(&format!("{why}: {}", quote(server_url))));
        }
        Err(e) => return not_found(out, Some(&e.to_string())),
    };
    let cx = match Context::load(settings) {
        Ok(cx) => cx,
        Err(e) => return not_found(out, Some(&format!("{}: {e}", host.host))),
    };
    match token::token_for(&cx, &host, &source) {
        Ok(token) => {
            let answer = Credentials {
                server_url,
                username: &token.username,
                secret: token.password.expose(),
            };
            match serde_json::to_string(&answer) {
                Ok(json) if writeln!(out, "{json}").and_then(|_| out.flush()).is_ok() => 0,
                _ => 1,
            }
        }
        Err(e) => not_found(out, Some(&format!("{}: {e}", host.host))),
    }
}

/// `list`: the registries whose tokens are cached and unexpired for the current identity.
pub fn list(settings: Settings, out: &mut dyn Write) -> i32 {
    let mut registries = BTreeMap::new();
    if let Ok(cx) = Context::load(settings) {
        let prefix = format!("{}/", cx.identity_key(&CredentialSource::default_chain()));
        let now = cache::now();
        for (_, entry) in cx.cache.entries_with_prefix(&prefix) {
            if entry.is_usable(now) {
                // Only hosts `get` would answer: not mirrors the kubelet served from this token.
                for host in entry
                    .hosts
                    .into_iter()
                    .filter(|h| resolve::resolve(&cx.settings, h).is_ok())
                {
                    registries.insert(format!("https://{host}"), entry.username.clone());
                }
            }
        }
    }
    match serde_json::to_string(&registries) {
        Ok(json) if writeln!(out, "{json}").is_ok() => 0,
        _ => 1,
    }
}

/// `store` and `erase`: ECR tokens come from AWS, so there is nothing to store. Docker calls
/// these on `docker login`/`logout`; `AWS_ECR_IGNORE_CREDS_STORAGE=true` turns them into no-ops.
pub fn store_or_erase(
    settings: &Settings,
    store: bool,
    input: &mut dyn Read,
    out: &mut dyn Write,
) -> i32 {
    let checked = read_input(input).and_then(|raw| {
        if store {
            serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&raw)
                .map(|_| ())
                .map_err(|e| format!("the store request is not a JSON object: {e}"))
        } else {
            Ok(())
        }
    });
    if let Err(why) = checked {
        let _ = writeln!(out, "{why}");
        return 1;
    }
    if settings.get("AWS_ECR_IGNORE_CREDS_STORAGE") == Some("true") {
        return 0;
    }
    let _ = writeln!(out, "not implemented");
    1
}

/// Answers "not found"; logs why unless the host simply is not ECR.
fn not_found(out: &mut dyn Write, why: Option<&str>) -> i32 {
    if let Some(why) = why {
        error!("{why}");
    }
    let _ = write!(out, "{NOT_FOUND}");
    let _ = out.flush();
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_masks_userinfo() {
        assert_eq!(quote("https://AWS:pw@host/x"), r#""https://***@host/x""#);
        assert_eq!(quote("user:pw@host"), r#""***@host""#);
        assert_eq!(quote("pw@a://host"), r#""***@a://host""#);
        assert_eq!(quote("a@b@c"), r#""***@c""#);
        assert_eq!(quote("host\r\n"), r#""host\r\n""#);
        assert!(quote(&"x".repeat(500)).ends_with("...\""));
    }
}
