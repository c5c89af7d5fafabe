//! Redaction of text that may carry a secret before it reaches a message or a log line.
//!
//! Endpoint overrides (`AWS_ENDPOINT_URL*`, `AWS_CONTAINER_CREDENTIALS_FULL_URI`) and server
//! URLs typed by people may hold `user:password@` or a token in the query string, and the SDK's
//! own error texts repeat the URL they failed to reach.

/// A URL with its userinfo replaced by `***@` and each query value by `***`.
pub(crate) fn url(input: &str) -> String {
    let (scheme, rest) = match input.split_once("://") {
        Some((scheme, rest))
            if !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) =>
        {
            (Some(scheme), rest)
        }
        _ => (None, input),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => format!("***{}", &authority[at..]),
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query = query.split('#').next().unwrap_or_default();
            let masked: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _)) => format!("{k}=***"),
                    None if pair.is_empty() => String::new(),
                    None => "***".to_string(),
                })
                .collect();
            format!("{path}?{}", masked.join("&"))
        }
        // A fragment is never sent, but may still hold something pasted by mistake.
        None => tail.split('#').next().unwrap_or_default().to_string(),
    };
    match scheme {
        Some(s) => format!("{s}://{authority}{tail}"),
        None => format!("{authority}{tail}"),
    }
}

/// Free text with every URL in it (`scheme://...`, up to whitespace or a quote) redacted.
pub(crate) fn text(input: &str) -> String {
    if !input.contains("://") {
        return input.to_string();
    }
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find("://") {
        // The scheme: letters, digits, `+`, `-`, `.` just before `://`.
        let start = rest[..pos]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |i| i + 1);
        let end = rest[pos..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '<' | '>' | ')'))
            .map_or(rest.len(), |i| pos + i);
        out.push_str(&rest[..start]);
        out.push_str(&url(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// A short, printable rendering of untrusted input for messages. Everything up to the last `@`
/// is masked: it may be `user:password@`, and a password typed into a server URL must not reach
/// the terminal or a log file.
pub(crate) fn quote(input: &str) -> String {
    let masked = url(input);
    let input = masked.as_str();
    let mut s: String = input.chars().take(80).collect();
    if input.chars().count() > 80 {
        s.push_str("...");
    }
    format!("{s:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            url("http://user:pass@host:80/path?token=abc&x=1#frag"),
            "http://***@host:80/path?token=***&x=***"
        );
        assert_eq!(url("https://host/v2/"), "https://host/v2/");
        assert_eq!(url("user:pw@host"), "***@host");
        assert_eq!(url("a@b@host/x?secret"), "***@host/x?***");
    }

    #[test]
    fn texts() {
        assert_eq!(
            text("error reaching http://u:p@h/x?t=s: dns error (for \"https://a:b@c/\")"),
            "error reaching http://***@h/x?t=*** dns error (for \"https://***@c/\")"
        );
        assert_eq!(text("no urls here"), "no urls here");
    }

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
