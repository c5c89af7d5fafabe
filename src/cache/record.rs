//! One key's record on disk: its token and its remembered failure, in a small file of its own,
//! so that a hit reads only what it needs however many identities and regions are cached.
//!
//! A record is named by hashes of its key's identity and scope (`<identity>-<scope>.json`), so
//! that `list` finds one identity's records by name; the key itself is inside, and a record
//! whose key is not the one asked for (a hash collision, a file renamed) is not used. Nothing
//! read is trusted blindly: a file that is not ours (owner, mode, symlink), too large, or not a
//! record of this version is ignored, and rewritten by the next store.

use crate::cache::lock::open_nofollow;
use crate::cache::policy::{Failure, Lifetime};
use crate::util::log::{debug, warning};
use crate::util::secret::Secret;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Version 3: one record per file. Earlier versions were one file for every key
/// (`ecr-login-cache.json`), which the sweep removes.
const FORMAT_VERSION: u32 = 3;
/// A record is a token (~2.5 KiB) and up to [`MAX_HOSTS`] host names: anything larger is not ours.
const MAX_RECORD_SIZE: u64 = 64 << 10;
pub(crate) const MAX_HOSTS: usize = 64;
pub(crate) const RECORD_SUFFIX: &str = ".json";
pub(crate) const LOCK_SUFFIX: &str = ".lock";

/// One cached token: the answer for every registry of one region and identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub username: String,
    pub password: Secret,
    /// Unix seconds when we received it (our clock).
    pub issued_at: f64,
    /// Unix seconds when it expires by our clock (its lifetime by AWS's clock, from receipt).
    pub expires_at: f64,
    /// Registry hosts served from this entry, for `list`.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// The registry of the caller's own account in this region, as AWS named it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_endpoint: Option<String>,
}

impl Entry {
    pub fn lifetime(&self) -> Lifetime {
        Lifetime {
            issued_at: self.issued_at,
            expires_at: self.expires_at,
        }
    }

    pub fn is_fresh(&self, now: f64) -> bool {
        self.lifetime().is_fresh(now)
    }

    pub fn is_usable(&self, now: f64) -> bool {
        self.lifetime().is_usable(now)
    }

    /// Seconds left before the token expires.
    pub fn remaining(&self, now: f64) -> f64 {
        (self.expires_at - now).max(0.0)
    }
}

/// What the cache holds for one key.
#[derive(Debug, Clone, Default)]
pub struct Slot {
    pub entry: Option<Entry>,
    pub failure: Option<Failure>,
}

/// A record file's contents.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Record {
    version: u32,
    pub(crate) key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) entry: Option<Entry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) failure: Option<Failure>,
}

impl Record {
    pub(crate) fn empty(key: &str) -> Record {
        Record {
            version: FORMAT_VERSION,
            key: key.to_string(),
            entry: None,
            failure: None,
        }
    }

    pub(crate) fn into_slot(self) -> Slot {
        Slot {
            entry: self.entry,
            failure: self.failure,
        }
    }

    /// Drops an expired token and a failure that holds nobody any more.
    pub(crate) fn prune(&mut self, now: f64, failure_memory: f64) {
        if self.entry.as_ref().is_some_and(|e| e.expires_at <= now) {
            self.entry = None;
        }
        if self
            .failure
            .as_ref()
            .is_some_and(|f| (now - f.at).abs() >= failure_memory)
        {
            self.failure = None;
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entry.is_none() && self.failure.is_none()
    }
}

/// The file-name stem of `key`'s record and lock: `<identity hash>-<scope hash>`.
pub(crate) fn stem(key: &str) -> String {
    let (identity, scope) = key.split_once('/').unwrap_or((key, ""));
    format!("{}-{}", identity_stem(identity), short_hash(scope))
}

/// The first part of the stem of every record of one identity.
pub(crate) fn identity_stem(identity: &str) -> String {
    short_hash(identity)
}

/// 16 hex characters of SHA-256: names, not secrets (the key holds no secret in clear).
fn short_hash(text: &str) -> String {
    use sha2::{Digest, Sha256};
    crate::cache::key::hex(&Sha256::digest(text.as_bytes())[..8])
}

/// `key`'s record, if the file at `path` holds one we trust.
pub(crate) fn read(path: &Path, key: &str) -> Option<Record> {
    read_any(path).filter(|r| {
        let ours = r.key == key;
        if !ours {
            debug!("{} holds another key's record; ignoring it", path.display());
        }
        ours
    })
}

/// The record in the file at `path`, whatever its key, if we trust the file.
pub(crate) fn read_any(path: &Path) -> Option<Record> {
    let file = match open_nofollow(path, OpenOptions::new().read(true)) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            warning!("ignoring the cache record {}: {e}", path.display());
            return None;
        }
    };
    let bytes = read_trusted(&file).map_err(|why| {
        warning!(
            "ignoring the cache record {}: {why}; remove it and it will be recreated",
            path.display()
        );
    });
    parse(&bytes.ok()?).or_else(|| {
        debug!(
            "{} is not a cache record of this version; it will be rewritten",
            path.display()
        );
        None
    })
}

/// The bytes of an open record file that is ours, private and not too large.
fn read_trusted(file: &File) -> Result<Vec<u8>, String> {
    let meta = file.metadata().map_err(|e| e.to_string())?;
    crate::util::files::check_private(&meta, false)?;
    if meta.len() > MAX_RECORD_SIZE {
        return Err("it is too large".into());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_RECORD_SIZE)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    Ok(bytes)
}

/// A record in `bytes`, or `None` when they are not a record of this version.
pub(crate) fn parse(bytes: &[u8]) -> Option<Record> {
    let record: Record = serde_json::from_slice(bytes).ok()?;
    (record.version == FORMAT_VERSION).then_some(record)
}

/// Replaces the file at `path` with `record`, or removes it when the record holds nothing.
pub(crate) fn write(path: &Path, record: &Record) -> std::io::Result<()> {
    if record.is_empty() {
        return match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    }
    let body = serde_json::to_vec(record)?;
    crate::util::files::replace(path, &body, 0o600, None)
}

/// The record's identity on disk now (a replace gives it a new inode): a writer compares it
/// before and after merging.
pub(crate) fn version(path: &Path) -> Option<(u64, i64, i64)> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    Some((meta.ino(), meta.mtime(), meta.mtime_nsec()))
}

/// Where `key`'s record lives under `dir`: all a hit needs.
pub(crate) fn file(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!("{}{RECORD_SUFFIX}", stem(key)))
}

/// Where `key`'s refresh lock lives under `dir`: only a miss takes it.
pub(crate) fn lock_file(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!("{}{LOCK_SUFFIX}", stem(key)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_identitys_records_share_a_name_prefix() {
        let a = stem("0123abcd/ecr:us-west-2");
        let b = stem("0123abcd/ecr:eu-west-1:fips");
        let c = stem("4567ef01/ecr:us-west-2");
        let prefix = format!("{}-", identity_stem("0123abcd"));
        assert!(a.starts_with(&prefix) && b.starts_with(&prefix));
        assert!(!c.starts_with(&prefix));
        assert_ne!(a, b);
        assert_eq!(a.len(), 33);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'));
    }

    #[test]
    fn a_record_of_another_key_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        let mut record = Record::empty("a");
        record.failure = Some(Failure {
            reason: "x".into(),
            at: 1.0,
            count: 1,
            kind: crate::cache::policy::FailureKind::Service,
            window: 1.0,
            inputs: String::new(),
            limit: None,
            refused: None,
        });
        write(&path, &record).unwrap();
        assert!(read(&path, "a").is_some());
        assert!(read(&path, "b").is_none());
        // An empty record removes its file.
        write(&path, &Record::empty("a")).unwrap();
        assert!(!path.exists());
    }
}
