//! Cache-key material: a hash of everything that decides which credentials the SDK resolves.
//!
//! Only the hash is stored, never a key id or secret in clear. Fields are length-prefixed, so no
//! two different sequences of fields hash the same bytes.

use crate::util::files::{self, Trust};
use crate::util::settings::Settings;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Bumped whenever what goes into a key changes, so that old keys are never matched.
const KEY_VERSION: &str = "3";

/// A credential_process script up to this size is hashed whole; a larger executable (a
/// compiled program) is known by its inode, size and times, which an edit in place changes.
const MAX_HASHED_EXECUTABLE: u64 = 256 * 1024;

pub(crate) struct KeyHasher(Sha256);

impl Default for KeyHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyHasher {
    pub(crate) fn new() -> KeyHasher {
        let mut h = KeyHasher(Sha256::new());
        h.feed("version", KEY_VERSION);
        h
    }

    pub(crate) fn feed(&mut self, name: &str, value: &str) {
        self.feed_bytes(name, value.as_bytes());
    }

    pub(crate) fn feed_bytes(&mut self, name: &str, value: &[u8]) {
        for part in [name.as_bytes(), value] {
            self.0.update((part.len() as u64).to_le_bytes());
            self.0.update(part);
        }
    }

    /// 32 hex characters (128 bits of SHA-256).
    pub(crate) fn finish(self) -> String {
        hex(&self.0.finalize()[..16])
    }
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// A `credential_process` command line: the command text, the executable it runs (found as
/// `sh` would find it), and the values of the variables it references.
pub(crate) fn feed_command(settings: &Settings, command: &str, key: &mut KeyHasher) {
    key.feed("credential_process", command);
    if let Some(exe) = first_word(command).and_then(|w| executable(settings, &w)) {
        feed_file_identity(&exe, key);
    }
    for name in referenced_variables(command) {
        match settings.other(&name) {
            Some(value) => key.feed("process-env", &format!("{name}={value}")),
            None => key.feed("process-env-unset", &name),
        }
    }
}

/// Metadata always; contents too for a script.
fn feed_file_identity(path: &Path, key: &mut KeyHasher) {
    key.feed("executable", &path.display().to_string());
    let Ok(meta) = std::fs::metadata(path) else {
        key.feed("executable-missing", "");
        return;
    };
    key.feed("executable-meta", &files::FileState::of(&meta).to_string());
    if meta.len() <= MAX_HASHED_EXECUTABLE
        && let Ok(Some(bytes)) = files::read(path, MAX_HASHED_EXECUTABLE, Trust::Any)
    {
        key.feed_bytes("executable-contents", &Sha256::digest(&bytes));
    }
}

/// The first word of a shell command, with simple quoting removed.
fn first_word(command: &str) -> Option<String> {
    let command = command.trim_start();
    let word = match command.chars().next()? {
        q @ ('"' | '\'') => command[1..].split(q).next()?.to_string(),
        _ => command.split_whitespace().next()?.to_string(),
    };
    (!word.is_empty()).then_some(word)
}

fn executable(settings: &Settings, word: &str) -> Option<PathBuf> {
    if word.contains('/') {
        return Some(settings.expand_home(word));
    }
    settings
        .nonempty("PATH")?
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(word))
        .find(|p| p.is_file())
}

/// `$NAME` and `${NAME}` in a command line.
fn referenced_variables(command: &str) -> Vec<String> {
    let bytes = command.as_bytes();
    let mut names = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' {
            let braced = bytes.get(i + 1) == Some(&b'{');
            let start = if braced { i + 2 } else { i + 1 };
            let end = bytes[start.min(bytes.len())..]
                .iter()
                .position(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
                .map_or(bytes.len(), |p| start + p);
            if end > start {
                let name = command[start..end].to_string();
                if !names.contains(&name) {
                    names.push(name);
                }
            }
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    names
}

/// This machine and boot, for credentials that nothing in the configuration identifies
/// (instance metadata): two instances sharing a home directory, or an image with a baked
/// cache, must not share entries. The boot id differs on every machine and every boot (so a
/// reboot costs one API call); the machine id is added for hosts without `/proc`.
pub(crate) fn feed_machine(key: &mut KeyHasher) {
    for path in ["/proc/sys/kernel/random/boot_id", "/etc/machine-id"] {
        match files::read(Path::new(path), 4096, Trust::Any) {
            Ok(Some(bytes)) => key.feed_bytes(path, bytes.trim_ascii()),
            _ => key.feed(path, "\0unreadable"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hexes() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
    }

    #[test]
    fn fields_are_delimited() {
        let mut a = KeyHasher::new();
        a.feed("ab", "c");
        let mut b = KeyHasher::new();
        b.feed("a", "bc");
        assert_ne!(a.finish(), b.finish());
    }

    #[test]
    fn command_words_and_variables() {
        assert_eq!(first_word("  /bin/cred --x").as_deref(), Some("/bin/cred"));
        assert_eq!(
            first_word("'/opt/my tool/cred' x").as_deref(),
            Some("/opt/my tool/cred")
        );
        assert_eq!(
            referenced_variables("cred --p $PROFILE ${TEAM}_x $1 $"),
            ["PROFILE", "TEAM", "1"]
        );
    }

    #[test]
    fn an_edited_script_changes_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("cred.sh");
        std::fs::write(&script, "#!/bin/sh\necho one\n").unwrap();
        let settings = Settings::for_test(&[]);
        let key = |s: &Settings| {
            let mut k = KeyHasher::new();
            feed_command(s, &format!("{} --x $TEAM", script.display()), &mut k);
            k.finish()
        };
        let before = key(&settings);
        assert_eq!(before, key(&settings));
        std::fs::write(&script, "#!/bin/sh\necho two\n").unwrap();
        let after = key(&settings);
        assert_ne!(before, after);
        let team = Settings::for_test(&[]).with_other("TEAM", "b");
        assert_ne!(after, key(&team));
    }
}
