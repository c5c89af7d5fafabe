//! The on-disk token cache: one small record file per key, replaced atomically, guarded by
//! kernel file locks.
//!
//! Layout under the cache directory (`$AWS_ECR_CACHE_DIR`, else `~/.ecr`, shared with the Go
//! helper, whose `cache.json` we leave alone), in `ecr-login-cache/`:
//! - `<identity hash>-<scope hash>.json`: one key's record (token and remembered failure; see
//!   [`crate::cache::record`]). Written only by rename of a complete temp file, so a reader
//!   never sees half a record and needs no lock: a hit is one open, one read, one small parse,
//!   whatever else is cached.
//! - `<identity hash>-<scope hash>.lock`: held exclusively by whoever refreshes that key
//!   (identity and region) for the length of the API call. Waiters look at the record again
//!   once they hold it, so a herd of cold calls makes one API call, while other keys refresh
//!   in parallel.
//! - `write.lock`: held for a record's read-merge-rename, a few milliseconds, so that writers
//!   of one key (a store, a failure, a host served) never lose each other's changes.
//! - `swept`: when the directory was last swept of spent records and unused locks
//!   ([`crate::cache::sweep`]).

use crate::cache::lock::{self, LockError, LockGuard};
use crate::cache::policy::Failure;
use crate::cache::record::{self, MAX_HOSTS, RECORD_SUFFIX, Record};
use crate::util::log::{debug, warning};
use crate::util::settings::Settings;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub(crate) use crate::cache::record::{Entry, Slot};

/// The records' directory, under the cache directory.
pub(crate) const RECORDS_DIR: &str = "ecr-login-cache";
const WRITE_LOCK_NAME: &str = "write.lock";
/// Failures older than the longest backoff hold nobody; they are dropped on write.
const FAILURE_MEMORY: f64 = 3600.0;
/// A write that found the record replaced under it (a stalled writer resumed) merges again,
/// at most this often, so that no change is lost to a takeover.
const WRITE_ATTEMPTS: usize = 3;

pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The token cache, or its null object: a disabled cache (`AWS_ECR_DISABLE_CACHE`, no `HOME`,
/// an unusable directory) answers every lookup with nothing and accepts every write, so the
/// data path never asks whether there is one.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cannot use the cache directory {0}: {1}")]
    Dir(PathBuf, String),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("cannot write {0}: {1}")]
    Write(PathBuf, std::io::Error),
}

impl Cache {
    /// The cache the settings ask for: `AWS_ECR_CACHE_DIR` (a leading `~` is the home, as the
    /// Go helper reads it), else `~/.ecr`; disabled by `AWS_ECR_DISABLE_CACHE` or without a
    /// home (service managers, sandboxes: no cache rather than someone else's).
    pub fn from_settings(settings: &Settings) -> Cache {
        if settings.nonempty("AWS_ECR_DISABLE_CACHE").is_some() {
            debug!("cache disabled by AWS_ECR_DISABLE_CACHE");
            return Cache::disabled();
        }
        let dir = match settings.nonempty("AWS_ECR_CACHE_DIR") {
            Some(dir) => settings.expand_home(dir),
            None => match settings.home() {
                Some(home) => home.join(".ecr"),
                None => {
                    debug!("no HOME and no AWS_ECR_CACHE_DIR: working without a cache");
                    return Cache::disabled();
                }
            },
        };
        // A relative directory (or a `~` with no home to expand it) would put live tokens
        // wherever the client happens to run: build contexts, CI artifacts.
        if !dir.is_absolute() {
            warning!(
                "AWS_ECR_CACHE_DIR={} is not an absolute path; working without a cache",
                dir.display()
            );
            return Cache::disabled();
        }
        Cache::new(dir)
    }

    pub fn new(dir: impl Into<PathBuf>) -> Cache {
        Cache {
            dir: Some(dir.into()),
        }
    }

    pub fn disabled() -> Cache {
        Cache { dir: None }
    }

    /// The cache directory (`~/.ecr`), which other files of ours share.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The records' directory.
    fn records(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(RECORDS_DIR))
    }

    /// Where `key`'s record lives (whether or not there is one).
    pub fn record_path(&self, key: &str) -> Option<PathBuf> {
        Some(record::file(&self.records()?, key))
    }

    /// The entry and remembered failure for `key`, whatever their age.
    pub fn slot(&self, key: &str) -> Slot {
        self.record_path(key)
            .and_then(|path| record::read(&path, key))
            .map(Record::into_slot)
            .unwrap_or_default()
    }

    /// The entry for `key`, whatever its age.
    pub fn lookup(&self, key: &str) -> Option<Entry> {
        self.slot(key).entry
    }

    /// The entries of one identity: keys `<identity>/<scope>` for `prefix` `<identity>/`.
    pub fn entries_with_prefix(&self, prefix: &str) -> Vec<(String, Entry)> {
        let Some(dir) = self.records() else {
            return Vec::new();
        };
        let Ok(listing) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let name_start = match prefix.split_once('/') {
            Some((identity, _)) => format!("{}-", record::identity_stem(identity)),
            None => String::new(),
        };
        let mut found: Vec<(String, Entry)> = listing
            .flatten()
            .filter(|item| {
                let name = item.file_name();
                let name = name.to_string_lossy();
                name.starts_with(&name_start) && name.ends_with(RECORD_SUFFIX)
            })
            .filter_map(|item| record::read_any(&item.path()))
            .filter(|r| r.key.starts_with(prefix))
            .filter_map(|r| Some((r.key, r.entry?)))
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found
    }

    /// Takes the exclusive refresh lock for `key`, waiting until `deadline` at the latest, or
    /// less when the holder is stopped or cannot be seen: a refresher suspended with Ctrl-Z
    /// must not hold every other pull until it times out.
    pub fn lock_refresh(&self, key: &str, deadline: Instant) -> Result<LockGuard, CacheError> {
        let Some(dir) = self.records() else {
            return Ok(LockGuard::none());
        };
        self.ensure_dir()?;
        let mut guard = lock::lock(&record::lock_file(&dir, key), deadline)?;
        guard.sign();
        Ok(guard)
    }

    /// Puts `entry` under `key` and forgets the key's failure.
    pub fn store(&self, key: &str, entry: Entry, deadline: Instant) -> Result<(), CacheError> {
        self.update(key, deadline, |record| {
            record.entry = Some(entry.clone());
            record.failure = None;
        })
    }

    /// Remembers that refreshing `key` failed, for every process to see. The record continues
    /// the key's streak (doubling its backoff) only when the last failure is recent and met
    /// the same inputs; otherwise it starts again from the base.
    pub fn record_failure(&self, key: &str, failure: Failure, deadline: Instant) {
        let result = self.update(key, deadline, |record| {
            let streak =
                Failure::streak_before(record.failure.as_ref(), &failure.inputs, failure.at);
            let mut remembered = failure.clone();
            remembered.count = streak.saturating_add(1);
            record.failure = Some(remembered);
        });
        if let Err(e) = result {
            debug!("could not record the failure in the cache: {e}");
        }
    }

    /// Forgets `key`'s remembered failure: a live check (`doctor`) succeeded.
    pub fn forget_failure(&self, key: &str, deadline: Instant) -> Result<(), CacheError> {
        self.update(key, deadline, |record| {
            record.failure = None;
        })
    }

    /// Records that `host` was served from `key`'s entry, so that `list` can name it. Best
    /// effort and never waits: it runs on the hit path, once per new host.
    pub fn remember_host(&self, key: &str, host: &str) {
        let Some(dir) = self.records() else {
            return;
        };
        let Some(_guard) = lock::try_lock(&dir.join(WRITE_LOCK_NAME)) else {
            return;
        };
        let path = record::file(&dir, key);
        let Some(mut record) = record::read(&path, key) else {
            return;
        };
        let Some(entry) = record.entry.as_mut() else {
            return;
        };
        if entry.hosts.iter().any(|h| h == host) || entry.hosts.len() >= MAX_HOSTS {
            return;
        }
        entry.hosts.push(host.to_string());
        if let Err(e) = record::write(&path, &record) {
            debug!("could not record {host} in the cache: {e}");
        }
    }

    /// Read, change, write `key`'s record, under the write lock; then sweep, when due. A
    /// holder of the lock that has stalled is taken over; since it may resume and write, every
    /// writer checks before it writes that the record is still the one it read, and merges
    /// again if not.
    fn update(
        &self,
        key: &str,
        deadline: Instant,
        mut change: impl FnMut(&mut Record),
    ) -> Result<(), CacheError> {
        let (Some(dir), Some(parent)) = (self.records(), self.dir()) else {
            return Ok(());
        };
        self.ensure_dir()?;
        let _guard = match lock::lock(&dir.join(WRITE_LOCK_NAME), deadline) {
            Ok(guard) => Some(guard),
            Err(e @ LockError::HolderStalled(..)) => {
                warning!("{e}; writing the cache without it");
                None
            }
            Err(e) => return Err(e.into()),
        };
        let path = record::file(&dir, key);
        merge(&path, key, &mut change)?;
        crate::cache::sweep::sweep_if_due(&dir, parent, now(), FAILURE_MEMORY, deadline);
        Ok(())
    }

    /// Creates the directories 0700, or checks that existing ones are safe to write in.
    fn ensure_dir(&self) -> Result<(), CacheError> {
        let (Some(parent), Some(dir)) = (self.dir(), self.records()) else {
            return Ok(());
        };
        for dir in [parent, &dir] {
            let err = |why: String| CacheError::Dir(dir.to_path_buf(), why);
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| err(e.to_string()))?;
            // The cache directory may be a link (a home on another disk); ours may not.
            let meta = if dir == parent {
                std::fs::metadata(dir)
            } else {
                std::fs::symlink_metadata(dir)
            }
            .map_err(|e| err(e.to_string()))?;
            crate::util::files::check_private(&meta, true).map_err(err)?;
        }
        Ok(())
    }
}

/// Applies `change` to the record at `path` and writes it back, unless the file changed while
/// we merged: then again, a few times.
fn merge(path: &Path, key: &str, change: &mut impl FnMut(&mut Record)) -> Result<(), CacheError> {
    for _ in 0..WRITE_ATTEMPTS {
        let read = record::version(path);
        let mut record = record::read(path, key).unwrap_or_else(|| Record::empty(key));
        change(&mut record);
        record.prune(now(), FAILURE_MEMORY);
        if record::version(path) == read {
            return record::write(path, &record)
                .map_err(|e| CacheError::Write(path.to_path_buf(), e));
        }
        debug!("the cache record changed while we merged; merging again");
    }
    Err(CacheError::Write(
        path.to_path_buf(),
        std::io::Error::other("the record kept changing under us"),
    ))
}

/// The record in a file's bytes (entry and key), or `None` when they are not a record of this
/// version: the reader every record on disk goes through, public for the fuzz tests.
pub fn parse_record(bytes: &[u8]) -> Option<(String, Option<Entry>)> {
    record::parse(bytes).map(|r| (r.key, r.entry))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::policy::FailureKind;
    use crate::util::secret::Secret;
    use std::os::unix::fs::MetadataExt;
    use std::time::Duration;

    fn entry(issued: f64, lifetime: f64) -> Entry {
        Entry {
            username: "AWS".into(),
            password: Secret::new("pw"),
            issued_at: issued,
            expires_at: issued + lifetime,
            hosts: vec![],
            proxy_endpoint: None,
        }
    }

    fn failure(reason: &str) -> Failure {
        Failure {
            reason: reason.into(),
            at: now(),
            count: 1,
            kind: FailureKind::Throttled,
            window: 1.0,
            inputs: "same".into(),
            limit: None,
            refused: None,
        }
    }

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(10)
    }

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
    }

    /// Sets `path`'s mtime `ago` in the past.
    fn backdate(path: &Path, ago: Duration) {
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(SystemTime::now() - ago)
            .unwrap();
    }

    #[test]
    fn store_and_lookup_keep_other_entries() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().join("sub"));
        let now = now();
        cache
            .store("id/ecr:us-west-2", entry(now, 100.0), far())
            .unwrap();
        cache
            .store("id/ecr:eu-west-1", entry(now, 200.0), far())
            .unwrap();
        assert_eq!(
            cache.lookup("id/ecr:us-west-2").unwrap().expires_at,
            now + 100.0
        );
        assert_eq!(
            cache.lookup("id/ecr:eu-west-1").unwrap().expires_at,
            now + 200.0
        );
        assert!(cache.lookup("other/ecr:us-west-2").is_none());
        let meta = std::fs::metadata(cache.record_path("id/ecr:us-west-2").unwrap()).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o600);
        for dir in [cache.dir().unwrap().to_path_buf(), cache.records().unwrap()] {
            let meta = std::fs::metadata(dir).unwrap();
            assert_eq!(meta.mode() & 0o777, 0o700);
        }
    }

    /// Kubelet nodes with per-pod roles cache hundreds of identities: none is evicted, and
    /// each is one small file, so that a hit costs the same whatever else is cached.
    #[test]
    fn a_thousand_keys_are_all_kept() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let now = now();
        for i in 0..1000 {
            cache
                .store(&format!("id{i}/ecr:us-west-2"), entry(now, 3600.0), far())
                .unwrap();
        }
        for i in 0..1000 {
            assert!(
                cache.lookup(&format!("id{i}/ecr:us-west-2")).is_some(),
                "{i}"
            );
        }
        let size = std::fs::metadata(cache.record_path("id7/ecr:us-west-2").unwrap())
            .unwrap()
            .len();
        assert!(size < 1024, "a record of {size} bytes");
    }

    #[test]
    fn one_identitys_entries_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let now = now();
        for key in ["a/ecr:us-west-2", "a/ecr:eu-west-1", "b/ecr:us-west-2"] {
            cache.store(key, entry(now, 3600.0), far()).unwrap();
        }
        cache.record_failure("a/ecr:ap-south-1", failure("x"), far());
        let keys: Vec<String> = cache
            .entries_with_prefix("a/")
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, ["a/ecr:eu-west-1", "a/ecr:us-west-2"]);
        assert_eq!(cache.entries_with_prefix("").len(), 3);
    }

    #[test]
    fn expired_entries_are_dropped_on_write() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let now = now();
        cache.store("a", entry(now - 100.0, 50.0), far()).unwrap();
        assert!(cache.lookup("a").is_none());
        assert!(!cache.record_path("a").unwrap().exists());
    }

    #[test]
    fn garbage_is_ignored_and_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        cache.store("k", entry(now(), 100.0), far()).unwrap();
        let path = cache.record_path("k").unwrap();
        for junk in [
            &b""[..],
            b"{",
            b"\xff\xfe",
            b"[1,2]",
            b"{\"version\":2,\"entries\":{}}",
            b"{\"version\":3}",
            b"{\"version\":3,\"key\":\"other\"}",
            b"{\"version\":3,\"key\":\"k\",\"entry\":{\"password\":5}}",
        ] {
            std::fs::write(&path, junk).unwrap();
            chmod(&path, 0o600);
            assert!(cache.lookup("k").is_none());
            cache.store("k", entry(now(), 100.0), far()).unwrap();
            assert!(cache.lookup("k").is_some());
        }
    }

    #[test]
    fn untrusted_files_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        cache.store("k", entry(now(), 100.0), far()).unwrap();
        let path = cache.record_path("k").unwrap();
        chmod(&path, 0o666);
        assert!(cache.lookup("k").is_none(), "world-writable file trusted");
        chmod(&path, 0o640);
        assert!(cache.lookup("k").is_none(), "group-readable file trusted");
        chmod(&path, 0o600);
        assert!(cache.lookup("k").is_some());

        let elsewhere = dir.path().join("elsewhere.json");
        std::fs::rename(&path, &elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
        assert!(cache.lookup("k").is_none(), "symlink followed");
        cache.store("k", entry(now(), 100.0), far()).unwrap();
        assert!(!std::fs::symlink_metadata(&path).unwrap().is_symlink());
    }

    #[test]
    fn failures_are_remembered_and_cleared_by_a_store() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        cache.record_failure("k", failure("throttled"), far());
        cache.record_failure("k", failure("throttled again"), far());
        let f = cache.slot("k").failure.unwrap();
        assert_eq!((f.count, f.reason.as_str()), (2, "throttled again"));
        assert!(cache.slot("other").failure.is_none());
        cache.store("k", entry(now(), 100.0), far()).unwrap();
        let slot = cache.slot("k");
        assert!(slot.failure.is_none() && slot.entry.is_some());
    }

    #[test]
    fn a_disabled_cache_holds_nothing_and_accepts_everything() {
        let cache = Cache::disabled();
        assert!(cache.lock_refresh("k", far()).is_ok());
        cache.record_failure("k", failure("x"), far());
        assert!(cache.slot("k").failure.is_none());
        assert!(cache.record_path("k").is_none());
    }

    #[test]
    fn refresh_locks_are_per_key() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let _held = cache.lock_refresh("k", far()).unwrap();
        let soon = Instant::now() + Duration::from_millis(50);
        assert!(matches!(
            cache.lock_refresh("k", soon),
            Err(CacheError::Lock(LockError::Timeout(_)))
        ));
        assert!(cache.lock_refresh("other", soon).is_ok());
    }

    /// What the sweep removes, once due: spent records, unused locks, stale temp files and the
    /// old single file; and what it keeps: live records, held or recent locks, others' files.
    #[test]
    fn the_sweep_removes_what_nobody_needs() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let records = cache.records().unwrap();
        let now = now();
        let hour = Duration::from_secs(3600);
        cache
            .store("live/ecr:a", entry(now, 3600.0), far())
            .unwrap();
        cache
            .store("spent/ecr:a", entry(now, 3600.0), far())
            .unwrap();
        cache.record_failure("failed/ecr:a", failure("x"), far());
        // The spent record's token expired since it was written.
        let spent = cache.record_path("spent/ecr:a").unwrap();
        let mut expired = Record::empty("spent/ecr:a");
        expired.entry = Some(entry(now - 100.0, 99.0));
        record::write(&spent, &expired).unwrap();
        assert!(cache.lookup("spent/ecr:a").is_some());
        // Locks: one held, one used recently, two long unused.
        let held = cache.lock_refresh("live/ecr:a", far()).unwrap();
        drop(cache.lock_refresh("failed/ecr:a", far()).unwrap());
        drop(cache.lock_refresh("spent/ecr:a", far()).unwrap());
        drop(cache.lock_refresh("gone/ecr:a", far()).unwrap());
        let lock_of = |key: &str| record::lock_file(&records, key);
        backdate(&lock_of("spent/ecr:a"), hour);
        backdate(&lock_of("gone/ecr:a"), hour);
        let stale_temp = records.join(".0123.json.1.2.tmp");
        std::fs::write(&stale_temp, "x").unwrap();
        backdate(&stale_temp, hour);
        let old_file = dir.path().join("ecr-login-cache.json");
        std::fs::write(&old_file, "{}").unwrap();
        let old_lock = dir.path().join("ecr-login-0123456789abcdef.lock");
        std::fs::write(&old_lock, "").unwrap();
        backdate(&old_lock, hour);
        let others = [dir.path().join("cache.json"), records.join("notes.txt")];
        for path in &others {
            std::fs::write(path, "theirs").unwrap();
        }

        // Not due yet: the first write marked a sweep.
        cache
            .store("live/ecr:b", entry(now, 3600.0), far())
            .unwrap();
        assert!(spent.exists() && old_file.exists());
        backdate(&records.join("swept"), hour);
        cache
            .store("live/ecr:b", entry(now, 3600.0), far())
            .unwrap();

        assert!(!spent.exists(), "a spent record was kept");
        assert!(!lock_of("spent/ecr:a").exists() && !lock_of("gone/ecr:a").exists());
        assert!(!stale_temp.exists() && !old_file.exists() && !old_lock.exists());
        assert!(cache.lookup("live/ecr:a").is_some());
        assert!(cache.slot("failed/ecr:a").failure.is_some());
        assert!(lock_of("live/ecr:a").exists() && lock_of("failed/ecr:a").exists());
        for path in &others {
            assert!(path.exists(), "{} removed", path.display());
        }
        drop(held);
    }
}
