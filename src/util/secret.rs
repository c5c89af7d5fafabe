//! A wrapper for values that must never reach a log, a panic message or `Debug` output.

use serde::{Deserialize, Serialize};

/// A token, password, secret key or session token.
///
/// `Debug` prints `***` so that a stray `{:?}` or a panic that formats its payload cannot leak the
/// value; there is deliberately no `Display`. The only way out is [`Secret::expose`], which makes
/// every place that writes a secret easy to find with grep.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself: for the protocol answer and a cache record, nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some(***)");
        assert_eq!(s.expose(), "hunter2");
    }
}
