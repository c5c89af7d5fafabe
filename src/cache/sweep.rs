//! Removal of what the cache no longer needs: records whose token expired and whose failure
//! holds nobody, lock files nobody has used for a while, temp files of writers killed before
//! their rename, and the files of earlier formats.
//!
//! Runs under the write lock after a write, at most every [`SWEEP_EVERY`], for at most
//! [`SWEEP_BUDGET`] (and never past the caller's deadline): a node that served a thousand
//! short-lived pod identities must not keep a thousand files, yet no single pull should pay
//! much for tidying them. What one sweep leaves, the next one takes.

use crate::cache::lock;
use crate::cache::record::{self, LOCK_SUFFIX, RECORD_SUFFIX};
use crate::util::log::debug;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

/// How often a writer looks through the whole directory.
const SWEEP_EVERY: Duration = Duration::from_secs(600);
/// The longest a sweep may hold the write lock and the caller's answer: a thousand records
/// take a few tens of milliseconds here.
const SWEEP_BUDGET: Duration = Duration::from_millis(250);
/// A lock file untouched this long belongs to no refresh in progress (a holder touches its
/// lock every 200 ms) and is removed; the next refresh of its key makes a new one.
const UNUSED_LOCK: Duration = Duration::from_secs(600);
/// A temp file this old belongs to no live writer.
const STALE_TEMP: Duration = Duration::from_secs(60);
/// Marks the last sweep, by its mtime.
const MARKER: &str = "swept";
/// The single-file cache of versions before 0.3, and its write lock, in the parent directory.
const OLD_FILE: &str = "ecr-login-cache.json";
const OLD_WRITE_LOCK: &str = "ecr-login-cache.lock";

/// Sweeps `dir` (the records' directory) and the old files in `parent`, if the last sweep
/// is [`SWEEP_EVERY`] ago. The caller holds the write lock.
pub(crate) fn sweep_if_due(
    dir: &Path,
    parent: &Path,
    now: f64,
    failure_memory: f64,
    deadline: Instant,
) {
    if !due(&dir.join(MARKER)) {
        return;
    }
    let deadline = deadline.min(Instant::now() + SWEEP_BUDGET);
    // The old file first: it holds tokens, and it is one file.
    let removed =
        sweep_old_format(parent, deadline) + sweep_records(dir, now, failure_memory, deadline);
    debug!("swept the cache: {removed} files removed");
}

/// Whether the last sweep is long enough ago; marks this one.
fn due(marker: &Path) -> bool {
    let age = std::fs::symlink_metadata(marker)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok());
    if age.is_some_and(|age| age < SWEEP_EVERY) {
        return false;
    }
    let marked = lock::open_nofollow(marker, std::fs::OpenOptions::new().write(true).create(true))
        .and_then(|f| f.set_modified(SystemTime::now()));
    if let Err(e) = marked {
        debug!("cannot mark the sweep in {}: {e}", marker.display());
    }
    true
}

/// Removes records that hold nothing any more, unused locks and stale temp files.
fn sweep_records(dir: &Path, now: f64, failure_memory: f64, deadline: Instant) -> usize {
    sweep_dir(dir, deadline, |name, path| {
        if let Some(stem) = name.strip_suffix(RECORD_SUFFIX) {
            is_stem(stem) && record_is_spent(path, now, failure_memory)
        } else if let Some(stem) = name.strip_suffix(LOCK_SUFFIX) {
            is_stem(stem) && lock::remove_unused(path, UNUSED_LOCK)
        } else {
            is_stale_temp(name, "", path)
        }
    })
}

/// Calls `remove(name, path)` for each file in `dir` until `deadline`; how many it removed.
fn sweep_dir(dir: &Path, deadline: Instant, mut remove: impl FnMut(&str, &Path) -> bool) -> usize {
    let Ok(listing) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for item in listing.flatten() {
        if Instant::now() >= deadline {
            break;
        }
        let name = item.file_name();
        removed += usize::from(remove(&name.to_string_lossy(), &item.path()));
    }
    removed
}

/// Removes the record at `path` if it holds nothing live: no usable token and no failure
/// that still holds anyone. A file of ours that is no record (damaged, another version) goes
/// too; a file that is not ours is left alone.
fn record_is_spent(path: &Path, now: f64, failure_memory: f64) -> bool {
    let spent = match record::read_any(path) {
        Some(mut r) => {
            r.prune(now, failure_memory);
            r.is_empty()
        }
        None => is_ours(path),
    };
    spent && std::fs::remove_file(path).is_ok()
}

/// The files of the single-file format: tokens no version reads any more.
fn sweep_old_format(parent: &Path, deadline: Instant) -> usize {
    sweep_dir(parent, deadline, |name, path| {
        let old_refresh_lock = name
            .strip_prefix("ecr-login-")
            .and_then(|n| n.strip_suffix(LOCK_SUFFIX))
            .is_some_and(|hash| hash.len() == 16 && is_hex(hash));
        if name == OLD_FILE {
            is_ours(path) && std::fs::remove_file(path).is_ok()
        } else if name == OLD_WRITE_LOCK || old_refresh_lock {
            lock::remove_unused(path, UNUSED_LOCK)
        } else {
            is_stale_temp(name, OLD_FILE, path)
        }
    })
}

/// `<16 hex>-<16 hex>`: a record's or lock's stem.
fn is_stem(stem: &str) -> bool {
    stem.split_once('-')
        .is_some_and(|(a, b)| a.len() == 16 && b.len() == 16 && is_hex(a) && is_hex(b))
}

fn is_hex(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A temp file of `crate::util::files::replace` (`.<name>.<pid>.<nanos>.tmp`) for a file whose
/// name starts with `of`, old enough that no live writer owns it; removed.
fn is_stale_temp(name: &str, of: &str, path: &Path) -> bool {
    let temp = name.starts_with(&format!(".{of}")) && name.ends_with(".tmp");
    let old = || {
        std::fs::symlink_metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_TEMP)
    };
    temp && old() && std::fs::remove_file(path).is_ok()
}

/// A regular file owned by us (not a symlink, not someone else's).
fn is_ours(path: &Path) -> bool {
    let euid = crate::util::files::euid();
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && m.uid() == euid)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sweep ends at its deadline with the rest left for the next one: it runs while a pull
    /// waits for its answer.
    #[test]
    fn a_sweep_stops_at_its_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let records = dir.path().join("records");
        std::fs::create_dir(&records).unwrap();
        let temp = records.join(".0123.json.1.2.tmp");
        std::fs::write(&temp, "x").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&temp)
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(3600))
            .unwrap();
        sweep_if_due(&records, dir.path(), 0.0, 3600.0, Instant::now());
        assert!(temp.exists(), "swept past the deadline");
        // The next sweep is not due for a while: the marker was set.
        let later = Instant::now() + Duration::from_secs(10);
        sweep_if_due(&records, dir.path(), 0.0, 3600.0, later);
        assert!(temp.exists());
        std::fs::remove_file(records.join(MARKER)).unwrap();
        sweep_if_due(&records, dir.path(), 0.0, 3600.0, later);
        assert!(!temp.exists(), "the next sweep did not take it");
    }
}
