//! The memo of key material: what the shared AWS files contribute to an identity key, remembered
//! per state of the files, so that a cache hit neither reads nor parses them (organisations with
//! thousands of profiles have configs of megabytes).
//!
//! One small file beside the token cache, `ecr-login-memo.json`, written like the cache (a
//! complete temp file renamed over it, mode 0600) and trusted like it (ours, private, a regular
//! file, bounded). A record says: the files at these paths, in these stat states, give this
//! profile this key material and these `credential_process` commands (which are evaluated again
//! on every call: their executables and variables are not in the files).
//!
//! A stat state says the contents are unchanged only when no write can have happened in the
//! same timestamp tick as the last one the memo saw: git's "racily clean" rule. A file whose
//! mtime or ctime is not safely older than the moment it was read is read again every time, and
//! such a record is never written.

use crate::util::files;
use crate::util::log::debug;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub(crate) const FILE_NAME: &str = "ecr-login-memo.json";
/// A record is a few hundred bytes; a memo larger than this is not ours.
const MAX_FILE: u64 = 256 * 1024;
/// Records kept, newest first: a few profiles times a few recent states of the files.
const MAX_RECORDS: usize = 16;
const FORMAT_VERSION: u32 = 1;
/// Timestamps this close to the moment the files were read (or later) may hide a write in the
/// same tick: seconds, enough for file systems with one- and two-second timestamps.
const RACY_WINDOW: f64 = 2.0;

/// What the files contribute to one identity key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Material {
    /// A hash of the settings the profile's chain reaches (32 hex characters).
    pub digest: String,
    /// The `credential_process` command lines the chain reaches, in order.
    pub commands: Vec<String>,
}

impl std::fmt::Debug for Material {
    /// Not the commands: a command line may carry a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Material({}, {} commands)",
            self.digest,
            self.commands.len()
        )
    }
}

#[derive(Clone, Serialize, Deserialize)]
struct Record {
    /// A hash of the paths, their states, the profile and this program's version.
    id: String,
    /// Unix seconds, taken before the files were opened.
    at: f64,
    material: Material,
}

#[derive(Default, Serialize, Deserialize)]
struct MemoFile {
    version: u32,
    records: Vec<Record>,
}

/// The memo in one cache directory, read at most once per call.
pub(crate) struct Memo {
    path: PathBuf,
    records: OnceLock<Vec<Record>>,
}

impl std::fmt::Debug for Memo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Memo({})", self.path.display())
    }
}

/// Whether a file whose newest timestamp (mtime or ctime, Unix seconds) is `newest` may have
/// been written again, unseen, after it was read at `read_at`.
pub(crate) fn racily_clean(newest: f64, read_at: f64) -> bool {
    newest >= read_at - RACY_WINDOW
}

impl Memo {
    pub(crate) fn in_dir(dir: &Path) -> Memo {
        Memo {
            path: dir.join(FILE_NAME),
            records: OnceLock::new(),
        }
    }

    /// The material recorded under `id`, when the files' `newest` timestamp is safely older
    /// than the record and the record is not from the future (a clock set back).
    pub(crate) fn find(&self, id: &str, newest: f64) -> Option<&Material> {
        let now = crate::cache::now();
        let record = self
            .records
            .get_or_init(|| read(&self.path).records)
            .iter()
            .find(|r| r.id == id)?;
        if racily_clean(newest, record.at) || record.at > now + RACY_WINDOW {
            debug!("the memo's record for these files is too close to their last change");
            return None;
        }
        Some(&record.material)
    }

    /// Records `material` under `id` for files read at `read_at`, newest first, keeping the
    /// other records. Best effort: a memo that cannot be written costs the next hit a parse.
    pub(crate) fn remember(&self, id: String, read_at: f64, material: Material) {
        let Some(dir) = self.path.parent() else {
            return;
        };
        // Only into a directory the cache already made and trusts; a hit creates nothing.
        if let Err(why) = check_dir(dir) {
            debug!("not writing the memo in {}: {why}", dir.display());
            return;
        }
        let mut memo = read(&self.path);
        memo.records.retain(|r| r.id != id);
        memo.records.insert(
            0,
            Record {
                id,
                at: read_at,
                material,
            },
        );
        memo.records.truncate(MAX_RECORDS);
        memo.version = FORMAT_VERSION;
        let written = serde_json::to_vec(&memo)
            .map_err(std::io::Error::other)
            .and_then(|bytes| files::replace(&self.path, &bytes, 0o600, None));
        match written {
            Ok(()) => debug!("remembered the key material in {}", self.path.display()),
            Err(e) => debug!("could not write the memo {}: {e}", self.path.display()),
        }
    }
}

/// The memo's records, or none when there is no memo or it is not one we trust.
fn read(path: &Path) -> MemoFile {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => f,
        Err(e) => {
            if e.kind() != std::io::ErrorKind::NotFound {
                debug!("ignoring the memo {}: {e}", path.display());
            }
            return MemoFile::default();
        }
    };
    match read_trusted(&file) {
        Ok(memo) => memo,
        Err(why) => {
            debug!("ignoring the memo {}: {why}", path.display());
            MemoFile::default()
        }
    }
}

fn read_trusted(file: &File) -> Result<MemoFile, String> {
    let meta = file.metadata().map_err(|e| e.to_string())?;
    crate::util::files::check_private(&meta, false)?;
    if meta.len() > MAX_FILE {
        return Err("it is too large".into());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    let memo: MemoFile = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    if memo.version != FORMAT_VERSION {
        return Err(format!("format {} is not {FORMAT_VERSION}", memo.version));
    }
    Ok(memo)
}

fn check_dir(dir: &Path) -> Result<(), String> {
    let meta = std::fs::symlink_metadata(dir).map_err(|e| e.to_string())?;
    crate::util::files::check_private(&meta, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn material(d: &str) -> Material {
        Material {
            digest: d.into(),
            commands: vec!["cred --x".into()],
        }
    }

    #[test]
    fn remembers_and_finds_only_safely_old_states() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        let now = crate::cache::now();
        Memo::in_dir(dir.path()).remember("a".into(), now, material("1"));
        Memo::in_dir(dir.path()).remember("b".into(), now, material("2"));
        let memo = Memo::in_dir(dir.path());
        assert_eq!(memo.find("a", now - 10.0), Some(&material("1")));
        assert_eq!(memo.find("b", now - 10.0), Some(&material("2")));
        assert_eq!(memo.find("c", now - 10.0), None);
        // Written within the window before the read: it may have been written again unseen.
        assert_eq!(memo.find("a", now - 1.0), None);
        assert_eq!(memo.find("a", now + 5.0), None);
        let mode = std::fs::metadata(dir.path().join(FILE_NAME))
            .unwrap()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn ignores_a_memo_others_can_touch() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        let now = crate::cache::now();
        Memo::in_dir(dir.path()).remember("a".into(), now, material("1"));
        let path = dir.path().join(FILE_NAME);
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .unwrap();
        assert_eq!(Memo::in_dir(dir.path()).find("a", now - 10.0), None);
        std::fs::write(&path, "not json").unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        assert_eq!(Memo::in_dir(dir.path()).find("a", now - 10.0), None);
    }

    #[test]
    fn keeps_a_bounded_number_of_records() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        let now = crate::cache::now();
        for i in 0..40 {
            Memo::in_dir(dir.path()).remember(format!("{i}"), now, material("x"));
        }
        let memo = read(&dir.path().join(FILE_NAME));
        assert_eq!(memo.records.len(), MAX_RECORDS);
        assert_eq!(memo.records[0].id, "39");
    }

    #[test]
    fn the_racy_rule() {
        assert!(racily_clean(100.0, 101.0));
        assert!(racily_clean(100.0, 102.0));
        assert!(!racily_clean(100.0, 102.5));
        assert!(racily_clean(105.0, 102.5));
    }
}
