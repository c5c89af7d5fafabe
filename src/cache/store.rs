//! The on-disk token cache: one JSON file, replaced atomically, guarded by kernel file locks.
//!
//! Layout under the cache directory (`$AWS_ECR_CACHE_DIR`, else `~/.ecr`, shared with the Go
//! helper, whose `cache.json` we leave alone):
//! - `ecr-login-cache.json`: the entries. Written only by rename of a complete temp file, so a
//!   reader never sees half a file and needs no lock: a hit is one open, one read, one parse.
//! - `ecr-login-cache.lock`: held exclusively for the read-merge-rename of the data file, a few
//!   milliseconds, so concurrent writers for different regions never lose each other's entries.
//! - `ecr-login-<key hash>.lock`: held exclusively by whoever refreshes one key (identity and
//!   region), for the length of the API call. Waiters look in the cache again once they hold it,
//!   so a herd of cold calls makes one API call, while other regions refresh in parallel.
//!
//! Locks are `flock`s: they die with their process, so a killed helper never blocks the next.
//! Nothing read from the file is trusted blindly: a file that is not ours (owner, mode, symlink)
//! is ignored, and one that does not parse is ignored and later rewritten.

use crate::cache::policy::{Failure, Lifetime};
use crate::util::log::{debug, warning};
use crate::util::secret::Secret;
use crate::util::settings::Settings;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub(crate) const FILE_NAME: &str = "ecr-login-cache.json";
const WRITE_LOCK_NAME: &str = "ecr-login-cache.lock";
/// Version 2 keys identities by what the SDK resolves and remembers failures; a version 1 file
/// is ignored and rewritten, never misread.
const FORMAT_VERSION: u32 = 2;
/// A cache file larger than this is not ours (a full one holds a few hundred entries of ~2 KiB).
const MAX_FILE_SIZE: u64 = 4 << 20;
const MAX_ENTRIES: usize = 256;
const MAX_HOSTS_PER_ENTRY: usize = 64;
/// Failures older than the longest backoff hold nobody; they are dropped on write.
const FAILURE_MEMORY: f64 = 3600.0;
/// A lock holder proves it is making progress by touching its lock file this often (from a
/// thread of its own, so a long API call or fsync does not stop it)...
const HEARTBEAT: Duration = Duration::from_millis(200);
/// ...and a waiter that sees no touch for this long takes over: whatever stalled the holder
/// (Ctrl-Z, the cgroup freezer of `docker pause`, a debugger, a hung mount, another PID
/// namespace), it must not hold every other pull until the deadline.
const STALLED_AFTER: Duration = Duration::from_millis(1500);
/// A write that found the file replaced under it (a stalled writer resumed) merges again,
/// at most this often, so that no entry is lost to a takeover.
const WRITE_ATTEMPTS: usize = 3;

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

#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    entries: BTreeMap<String, Entry>,
    #[serde(default)]
    failures: BTreeMap<String, Failure>,
}

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

/// A held lock; released when dropped (or when the process dies). While held, its heartbeat
/// tells waiters the holder is alive.
#[derive(Debug)]
pub struct LockGuard {
    _file: Option<File>,
    _heartbeat: Option<Heartbeat>,
}

impl Drop for LockGuard {
    /// Unlocks explicitly: the heartbeat thread holds a duplicate of the descriptor until it
    /// notices it should stop, and a `flock` lasts until every duplicate is closed, or until
    /// an unlock on any of them.
    fn drop(&mut self) {
        self._heartbeat.take();
        if let Some(file) = &self._file {
            let _ = file.unlock();
        }
    }
}

impl LockGuard {
    fn none() -> LockGuard {
        LockGuard {
            _file: None,
            _heartbeat: None,
        }
    }
}

/// Touches a lock file's mtime every [`HEARTBEAT`] until dropped.
#[derive(Debug)]
struct Heartbeat {
    /// Dropped with the guard: the thread sees the channel close and ends.
    _stop: std::sync::mpsc::Sender<()>,
}

impl Heartbeat {
    fn start(file: &File) -> Option<Heartbeat> {
        touch(file);
        let file = file.try_clone().ok()?;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("lock-heartbeat".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(HEARTBEAT)
                {
                    touch(&file);
                }
            })
            .ok()?;
        Some(Heartbeat { _stop: stop })
    }
}

/// Sets the file's mtime to now.
fn touch(file: &File) {
    let _ = file.set_modified(SystemTime::now());
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cannot use the cache directory {0}: {1}")]
    Dir(PathBuf, String),
    #[error("cannot lock {0}: {1}")]
    Lock(PathBuf, std::io::Error),
    #[error("timed out waiting for another ecr-login process to release {0}")]
    LockTimeout(PathBuf),
    #[error("the process holding {} has shown no progress for {:.1} s{}", .0.display(), .1.as_secs_f64(), .2.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    HolderStalled(PathBuf, Duration, Option<u32>),
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

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    pub fn path(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(FILE_NAME))
    }

    /// The entry and remembered failure for `key`, whatever their age.
    pub fn slot(&self, key: &str) -> Slot {
        match self.read_file() {
            Some(mut f) => Slot {
                entry: f.entries.remove(key),
                failure: f.failures.remove(key),
            },
            None => Slot::default(),
        }
    }

    /// The entry for `key`, whatever its age.
    pub fn lookup(&self, key: &str) -> Option<Entry> {
        self.slot(key).entry
    }

    /// All entries whose key starts with `prefix` (one identity's entries).
    pub fn entries_with_prefix(&self, prefix: &str) -> Vec<(String, Entry)> {
        self.read_file()
            .map(|f| {
                f.entries
                    .into_iter()
                    .filter(|(k, _)| k.starts_with(prefix))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn read_file(&self) -> Option<CacheFile> {
        let path = self.path()?;
        let file = match open_nofollow(&path, OpenOptions::new().read(true)) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                debug!("no cache file at {}", path.display());
                return None;
            }
            Err(e) => {
                warning!("ignoring the cache file {}: {e}", path.display());
                return None;
            }
        };
        let meta = file.metadata().ok()?;
        if let Err(why) = check_owned_private(&meta, false) {
            warning!(
                "ignoring the cache file {}: {why}; remove it and it will be recreated",
                path.display()
            );
            return None;
        }
        if meta.len() > MAX_FILE_SIZE {
            warning!(
                "ignoring the cache file {}: it is too large",
                path.display()
            );
            return None;
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        file.take(MAX_FILE_SIZE).read_to_end(&mut bytes).ok()?;
        parse(&bytes).or_else(|| {
            debug!(
                "the cache file {} is not a valid cache; it will be rewritten",
                path.display()
            );
            None
        })
    }

    /// Takes the exclusive refresh lock for `key`, waiting until `deadline` at the latest, or
    /// less when the holder is stopped or cannot be seen: a refresher suspended with Ctrl-Z
    /// must not hold every other pull until it times out.
    pub fn lock_refresh(&self, key: &str, deadline: Instant) -> Result<LockGuard, CacheError> {
        let Some(dir) = &self.dir else {
            return Ok(LockGuard::none());
        };
        self.ensure_dir()?;
        let name = format!("ecr-login-{}.lock", short_hash(key));
        let path = dir.join(name);
        let mut guard = lock_file(&path, deadline)?;
        // Tell waiters who holds it, so that they can see a stopped holder.
        if let Some(f) = guard._file.as_mut() {
            let _ = f.set_len(0);
            let _ = f.rewind();
            let _ = write!(f, "{}", std::process::id());
        }
        Ok(guard)
    }

    /// Puts `entry` under `key`, keeping every other live entry, forgets the key's failures,
    /// and drops expired entries.
    pub fn store(&self, key: &str, entry: Entry, deadline: Instant) -> Result<(), CacheError> {
        self.update(deadline, |file| {
            file.entries.insert(key.to_string(), entry.clone());
            file.failures.remove(key);
        })
    }

    /// Remembers that refreshing `key` failed, for every process to see. The record continues
    /// the key's streak (doubling its backoff) only when the last failure is recent and met
    /// the same inputs; otherwise it starts again from the base.
    pub fn record_failure(&self, key: &str, failure: Failure, deadline: Instant) {
        let result = self.update(deadline, |file| {
            let streak =
                Failure::streak_before(file.failures.get(key), &failure.inputs, failure.at);
            let mut record = failure.clone();
            record.count = streak.saturating_add(1);
            file.failures.insert(key.to_string(), record);
        });
        if let Err(e) = result {
            debug!("could not record the failure in the cache: {e}");
        }
    }

    /// Forgets `key`'s remembered failure: a live check (`doctor`) succeeded.
    pub fn forget_failure(&self, key: &str, deadline: Instant) -> Result<(), CacheError> {
        self.update(deadline, |file| {
            file.failures.remove(key);
        })
    }

    /// Records that `host` was served from `key`'s entry, so that `list` can name it. Best
    /// effort and never waits: it runs on the hit path, once per new host.
    pub fn remember_host(&self, key: &str, host: &str) {
        let Some(dir) = &self.dir else {
            return;
        };
        let path = dir.join(WRITE_LOCK_NAME);
        let Ok(file) = open_nofollow(&path, OpenOptions::new().read(true).write(true)) else {
            return;
        };
        if file.try_lock().is_err() {
            return;
        }
        let _guard = LockGuard {
            _file: Some(file),
            _heartbeat: None,
        };
        let mut cache = self.read_file().unwrap_or_default();
        let Some(entry) = cache.entries.get_mut(key) else {
            return;
        };
        if entry.hosts.iter().any(|h| h == host) || entry.hosts.len() >= MAX_HOSTS_PER_ENTRY {
            return;
        }
        entry.hosts.push(host.to_string());
        if let Err(e) = self.write_file(&cache) {
            debug!("could not record {host} in the cache: {e}");
        }
    }

    /// Read, change, write, under the write lock. A holder of the lock that has stalled is
    /// taken over; since it may resume and write, every writer checks before it writes that
    /// the file is still the one it read, and merges again if not.
    fn update(
        &self,
        deadline: Instant,
        mut change: impl FnMut(&mut CacheFile),
    ) -> Result<(), CacheError> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        self.ensure_dir()?;
        let _guard = match lock_file(&dir.join(WRITE_LOCK_NAME), deadline) {
            Ok(guard) => Some(guard),
            Err(e @ CacheError::HolderStalled(..)) => {
                warning!("{e}; writing the cache without it");
                None
            }
            Err(e) => return Err(e),
        };
        self.remove_stale_temp_files();
        for _ in 0..WRITE_ATTEMPTS {
            let read = self.file_version();
            let mut cache = self.read_file().unwrap_or_default();
            change(&mut cache);
            prune(&mut cache);
            if self.file_version() == read {
                return self.write_file(&cache);
            }
            debug!("the cache file changed while we merged; merging again");
        }
        Err(CacheError::Write(
            self.path().unwrap_or_default(),
            std::io::Error::other("the file kept changing under us"),
        ))
    }

    /// The identity of the cache file now (a replace gives it a new inode).
    fn file_version(&self) -> Option<(u64, i64, i64)> {
        let meta = std::fs::symlink_metadata(self.path()?).ok()?;
        Some((meta.ino(), meta.mtime(), meta.mtime_nsec()))
    }

    /// Temp files left by a writer killed between write and rename. Only called under the write
    /// lock, and only files older than a minute, so no live writer's file is taken.
    fn remove_stale_temp_files(&self) {
        let Some(Ok(dir)) = self.dir.as_ref().map(std::fs::read_dir) else {
            return;
        };
        let prefix = format!(".{FILE_NAME}.");
        for entry in dir.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if !(name.starts_with(&prefix) && name.ends_with(".tmp")) {
                continue;
            }
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > Duration::from_secs(60));
            if old {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// Writes a complete temp file beside the cache and renames it over the old one.
    fn write_file(&self, cache: &CacheFile) -> Result<(), CacheError> {
        let Some(path) = self.path() else {
            return Ok(());
        };
        let body = serde_json::to_vec(&CacheFile {
            version: FORMAT_VERSION,
            entries: cache.entries.clone(),
            failures: cache.failures.clone(),
        })
        .map_err(|e| CacheError::Write(path.clone(), e.into()))?;
        crate::util::files::replace(&path, &body, 0o600, None)
            .map_err(|e| CacheError::Write(path, e))
    }

    /// Creates the directory 0700, or checks that an existing one is safe to write in.
    fn ensure_dir(&self) -> Result<(), CacheError> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let err = |why: String| CacheError::Dir(dir.clone(), why);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| err(e.to_string()))?;
        let meta = std::fs::metadata(dir).map_err(|e| err(e.to_string()))?;
        check_owned_private(&meta, true).map_err(err)
    }
}

/// The entries in a cache file's bytes, or `None` when they are not a cache file of this
/// version: the reader every file on disk goes through, public for the fuzz tests.
pub fn parse_cache_file(bytes: &[u8]) -> Option<BTreeMap<String, Entry>> {
    parse(bytes).map(|f| f.entries)
}

/// Drops expired entries and forgotten failures, and the oldest entries past the cap.
fn prune(cache: &mut CacheFile) {
    let now = now();
    cache.entries.retain(|_, e| e.expires_at > now);
    cache
        .failures
        .retain(|_, f| (now - f.at).abs() < FAILURE_MEMORY);
    while cache.entries.len() > MAX_ENTRIES {
        let oldest = cache
            .entries
            .iter()
            .min_by(|a, b| a.1.issued_at.total_cmp(&b.1.issued_at))
            .map(|(k, _)| k.clone());
        match oldest {
            Some(k) => cache.entries.remove(&k),
            None => break,
        };
    }
}

fn parse(bytes: &[u8]) -> Option<CacheFile> {
    let file: CacheFile = serde_json::from_slice(bytes).ok()?;
    (file.version == FORMAT_VERSION).then_some(file)
}

/// Opens without following a symlink planted at `path`, and without blocking on a FIFO.
fn open_nofollow(path: &Path, options: &mut OpenOptions) -> std::io::Result<File> {
    options
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
}

/// A file or directory we trust is ours and not writable by anyone else.
fn check_owned_private(meta: &std::fs::Metadata, dir: bool) -> Result<(), String> {
    if dir != meta.is_dir() || (!dir && !meta.is_file()) {
        return Err(if dir {
            "not a directory"
        } else {
            "not a regular file"
        }
        .into());
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if meta.uid() != euid {
        return Err(format!(
            "it is owned by uid {}, not by us (uid {euid})",
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "it is writable by group or others (mode {:o})",
            meta.mode() & 0o777
        ));
    }
    // We write the file 0600; one that others can read is not ours, and its tokens may be seen.
    if !dir && meta.mode() & 0o044 != 0 {
        return Err(format!(
            "it is readable by group or others (mode {:o})",
            meta.mode() & 0o777
        ));
    }
    Ok(())
}

/// Waits for an exclusive lock on `path` until `deadline`, or until its holder has shown no
/// heartbeat for [`STALLED_AFTER`]; holds it with a heartbeat of its own.
fn lock_file(path: &Path, deadline: Instant) -> Result<LockGuard, CacheError> {
    let mut file = open_nofollow(path, OpenOptions::new().read(true).write(true).create(true))
        .map_err(|e| CacheError::Lock(path.to_path_buf(), e))?;
    let mut pause = Duration::from_millis(1);
    loop {
        match file.try_lock() {
            Ok(()) => {
                let heartbeat = Heartbeat::start(&file);
                return Ok(LockGuard {
                    _file: Some(file),
                    _heartbeat: heartbeat,
                });
            }
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(CacheError::Lock(path.to_path_buf(), e));
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(CacheError::LockTimeout(path.to_path_buf()));
        }
        if let Some(silent) = silence(&file).filter(|s| *s >= STALLED_AFTER) {
            return Err(CacheError::HolderStalled(
                path.to_path_buf(),
                silent,
                holder_pid(&mut file),
            ));
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// How long since the lock's holder last touched it (nothing when the clock says "future").
fn silence(file: &File) -> Option<Duration> {
    file.metadata().ok()?.modified().ok()?.elapsed().ok()
}

/// The pid a refresher wrote into its lock, for the message.
fn holder_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.rewind().ok()?;
    (&*file).take(32).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// A short file-name-safe hash of a cache key.
fn short_hash(key: &str) -> String {
    use sha2::{Digest, Sha256};
    crate::cache::key::hex(&Sha256::digest(key.as_bytes())[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(10)
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
        let meta = std::fs::metadata(cache.path().unwrap()).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o600);
        let meta = std::fs::metadata(cache.dir().unwrap()).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o700);
    }

    #[test]
    fn expired_entries_are_dropped_on_write() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let now = now();
        cache.store("a", entry(now - 100.0, 50.0), far()).unwrap();
        cache.store("b", entry(now, 50.0), far()).unwrap();
        assert!(cache.lookup("a").is_none());
        assert!(cache.lookup("b").is_some());
    }

    #[test]
    fn garbage_is_ignored_and_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        for junk in [
            &b""[..],
            b"{",
            b"\xff\xfe",
            b"[1,2]",
            b"{\"version\":1}",
            b"{\"version\":1,\"entries\":{}}",
            b"{\"version\":2,\"entries\":{\"k\":{\"password\":5}}}",
        ] {
            std::fs::write(cache.path().unwrap(), junk).unwrap();
            std::fs::set_permissions(
                cache.path().unwrap(),
                std::os::unix::fs::PermissionsExt::from_mode(0o600),
            )
            .unwrap();
            assert!(cache.lookup("k").is_none());
            cache.store("k", entry(now(), 100.0), far()).unwrap();
            assert!(cache.lookup("k").is_some());
        }
    }

    #[test]
    fn untrusted_files_are_ignored() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        cache.store("k", entry(now(), 100.0), far()).unwrap();
        std::fs::set_permissions(cache.path().unwrap(), PermissionsExt::from_mode(0o666)).unwrap();
        assert!(cache.lookup("k").is_none(), "world-writable file trusted");
        std::fs::set_permissions(cache.path().unwrap(), PermissionsExt::from_mode(0o600)).unwrap();
        assert!(cache.lookup("k").is_some());

        let elsewhere = dir.path().join("elsewhere.json");
        std::fs::rename(cache.path().unwrap(), &elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, cache.path().unwrap()).unwrap();
        assert!(cache.lookup("k").is_none(), "symlink followed");
        cache.store("k", entry(now(), 100.0), far()).unwrap();
        assert!(
            !std::fs::symlink_metadata(cache.path().unwrap())
                .unwrap()
                .is_symlink()
        );
    }

    #[test]
    fn stale_temp_files_are_removed_on_write() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let stale = dir.path().join(format!(".{FILE_NAME}.123.456.tmp"));
        let fresh = dir.path().join(format!(".{FILE_NAME}.789.012.tmp"));
        std::fs::write(&stale, "x").unwrap();
        std::fs::write(&fresh, "x").unwrap();
        let old = SystemTime::now() - Duration::from_secs(600);
        std::fs::File::options()
            .write(true)
            .open(&stale)
            .unwrap()
            .set_modified(old)
            .unwrap();
        cache.store("k", entry(now(), 100.0), far()).unwrap();
        assert!(!stale.exists(), "a stale temp file was kept");
        assert!(fresh.exists(), "a live writer's temp file was removed");
    }

    #[test]
    fn lock_waits_until_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let held = cache.lock_refresh("k", far()).unwrap();
        let soon = Instant::now() + Duration::from_millis(50);
        assert!(matches!(
            cache.lock_refresh("k", soon),
            Err(CacheError::LockTimeout(_))
        ));
        assert!(
            cache.lock_refresh("other", soon).is_ok(),
            "keys lock independently"
        );
        drop(held);
        assert!(cache.lock_refresh("k", soon).is_ok());
    }
}

#[cfg(test)]
mod failure_tests {
    use super::*;
    use crate::cache::policy::FailureKind;

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

    #[test]
    fn failures_are_remembered_and_cleared_by_a_store() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let far = Instant::now() + Duration::from_secs(10);
        cache.record_failure("k", failure("throttled"), far);
        cache.record_failure("k", failure("throttled again"), far);
        let f = cache.slot("k").failure.unwrap();
        assert_eq!((f.count, f.reason.as_str()), (2, "throttled again"));
        assert!(cache.slot("other").failure.is_none());
        let entry = Entry {
            username: "AWS".into(),
            password: Secret::new("pw"),
            issued_at: now(),
            expires_at: now() + 100.0,
            hosts: vec![],
            proxy_endpoint: None,
        };
        cache.store("k", entry, far).unwrap();
        let slot = cache.slot("k");
        assert!(slot.failure.is_none() && slot.entry.is_some());
    }

    #[test]
    fn a_disabled_cache_holds_nothing_and_accepts_everything() {
        let cache = Cache::disabled();
        let far = Instant::now() + Duration::from_secs(1);
        assert!(cache.lock_refresh("k", far).is_ok());
        cache.record_failure("k", failure("x"), far);
        assert!(cache.slot("k").failure.is_none());
        assert!(cache.path().is_none());
    }

    #[test]
    fn a_holder_without_a_heartbeat_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let far = Instant::now() + Duration::from_secs(20);
        let held = cache.lock_refresh("k", far).unwrap();
        // A live holder's heartbeat keeps waiters waiting...
        let soon = Instant::now() + STALLED_AFTER + Duration::from_millis(500);
        assert!(matches!(
            cache.lock_refresh("k", soon),
            Err(CacheError::LockTimeout(_))
        ));
        // ...and a holder that stops beating is given up on.
        let path = dir
            .path()
            .join(format!("ecr-login-{}.lock", short_hash("k")));
        let mut silent = held;
        silent._heartbeat = None;
        let old = SystemTime::now() - STALLED_AFTER * 2;
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert!(matches!(
            cache.lock_refresh("k", far),
            Err(CacheError::HolderStalled(..))
        ));
    }
}
