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

use crate::log::{debug, warning};
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const FILE_NAME: &str = "ecr-login-cache.json";
const WRITE_LOCK_NAME: &str = "ecr-login-cache.lock";
const FORMAT_VERSION: u32 = 1;
/// A cache file larger than this is not ours (a full one holds a few hundred entries of ~2 KiB).
const MAX_FILE_SIZE: u64 = 4 << 20;
const MAX_ENTRIES: usize = 256;
const MAX_HOSTS_PER_ENTRY: usize = 64;

/// One cached token: the answer for every registry of one region and identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub username: String,
    pub password: Secret,
    /// Unix seconds when we received it (our clock).
    pub issued_at: f64,
    /// Unix seconds when AWS says it expires.
    pub expires_at: f64,
    /// Registry hosts served from this entry, for `list`.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// The registry AWS named with the token (`Fetched::proxy_endpoint`), for `list`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_endpoint: Option<String>,
}

impl Entry {
    fn lifetime(&self) -> f64 {
        (self.expires_at - self.issued_at).max(0.0)
    }

    /// Tokens are refreshed once half their lifetime has passed, leaving the other half to ride
    /// out an AWS outage. The expiry is checked on its own too: after the clock steps back, the
    /// issue time can lie ahead while AWS's expiry has passed.
    pub fn is_fresh(&self, now: f64) -> bool {
        now >= self.issued_at - 300.0
            && now < self.issued_at + self.lifetime() / 2.0
            && now < self.expires_at
    }

    /// Still good enough to hand out when a refresh fails: never an expired token, nor one
    /// about to expire under a client that is starting a push.
    pub fn is_usable(&self, now: f64) -> bool {
        let margin = (self.lifetime() / 4.0).min(60.0);
        now < self.expires_at - margin
    }

    /// Seconds left before the token expires.
    pub fn remaining(&self, now: f64) -> f64 {
        (self.expires_at - now).max(0.0)
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    entries: BTreeMap<String, Entry>,
}

pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

/// A held lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct LockGuard {
    _file: File,
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cannot use the cache directory {0}: {1}")]
    Dir(PathBuf, String),
    #[error("cannot lock {0}: {1}")]
    Lock(PathBuf, std::io::Error),
    #[error("timed out waiting for another ecr-login process to release {0}")]
    LockTimeout(PathBuf),
    #[error("cannot write {0}: {1}")]
    Write(PathBuf, std::io::Error),
}

impl Cache {
    /// The cache as configured by the environment, or `None` when it is disabled or there is
    /// nowhere to put it (no `HOME`, as under some service managers): then every call fetches.
    pub fn from_env() -> Option<Cache> {
        if std::env::var_os("AWS_ECR_DISABLE_CACHE").is_some_and(|v| !v.is_empty()) {
            debug!("cache disabled by AWS_ECR_DISABLE_CACHE");
            return None;
        }
        let dir = match std::env::var_os("AWS_ECR_CACHE_DIR").filter(|d| !d.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            // HOME itself, not the passwd fallback of `std::env::home_dir`: a caller that
            // cleared HOME (service managers, sandboxes) gets no cache rather than someone's.
            None => match std::env::var_os("HOME")
                .map(PathBuf::from)
                .filter(|h| h.is_absolute())
            {
                Some(home) => home.join(".ecr"),
                None => {
                    debug!("no HOME and no AWS_ECR_CACHE_DIR: working without a cache");
                    return None;
                }
            },
        };
        Some(Cache { dir })
    }

    pub fn new(dir: impl Into<PathBuf>) -> Cache {
        Cache { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    /// The entry for `key`, whatever its age; `None` when absent or the file is unusable.
    pub fn lookup(&self, key: &str) -> Option<Entry> {
        self.read_file()?.entries.remove(key)
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
        let path = self.path();
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

    /// Takes the exclusive refresh lock for `key`, waiting until `deadline` at the latest.
    pub fn lock_refresh(&self, key: &str, deadline: Instant) -> Result<LockGuard, CacheError> {
        self.ensure_dir()?;
        let name = format!("ecr-login-{}.lock", short_hash(key));
        lock_file(&self.dir.join(name), deadline)
    }

    /// Puts `entry` under `key`, keeping every other live entry, and drops expired ones.
    pub fn store(&self, key: &str, entry: Entry, deadline: Instant) -> Result<(), CacheError> {
        self.update(deadline, |file| {
            file.entries.insert(key.to_string(), entry);
        })
    }

    /// Records that `host` was served from `key`'s entry, so that `list` can name it. Best
    /// effort and never waits: it runs on the hit path, once per new host.
    pub fn remember_host(&self, key: &str, host: &str) {
        let path = self.dir.join(WRITE_LOCK_NAME);
        let Ok(file) = open_nofollow(&path, OpenOptions::new().read(true).write(true)) else {
            return;
        };
        if file.try_lock().is_err() {
            return;
        }
        let _guard = LockGuard { _file: file };
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

    fn update(
        &self,
        deadline: Instant,
        change: impl FnOnce(&mut CacheFile),
    ) -> Result<(), CacheError> {
        self.ensure_dir()?;
        let _guard = lock_file(&self.dir.join(WRITE_LOCK_NAME), deadline)?;
        self.remove_stale_temp_files();
        let mut cache = self.read_file().unwrap_or_default();
        change(&mut cache);
        let now = now();
        cache.entries.retain(|_, e| e.expires_at > now);
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
        self.write_file(&cache)
    }

    /// Temp files left by a writer killed between write and rename. Only called under the write
    /// lock, and only files older than a minute, so no live writer's file is taken.
    fn remove_stale_temp_files(&self) {
        let Ok(dir) = std::fs::read_dir(&self.dir) else {
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
        let path = self.path();
        let body = serde_json::to_vec(&CacheFile {
            version: FORMAT_VERSION,
            entries: cache.entries.clone(),
        })
        .map_err(|e| CacheError::Write(path.clone(), e.into()))?;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let tmp = self
            .dir
            .join(format!(".{FILE_NAME}.{}.{nanos}.tmp", std::process::id()));
        let result = (|| {
            let mut f = open_nofollow(&tmp, OpenOptions::new().write(true).create_new(true))?;
            f.write_all(&body)?;
            f.sync_data()?;
            std::fs::rename(&tmp, &path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(|e| CacheError::Write(path, e))
    }

    /// Creates the directory 0700, or checks that an existing one is safe to write in.
    fn ensure_dir(&self) -> Result<(), CacheError> {
        let err = |why: String| CacheError::Dir(self.dir.clone(), why);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| err(e.to_string()))?;
        let meta = std::fs::metadata(&self.dir).map_err(|e| err(e.to_string()))?;
        check_owned_private(&meta, true).map_err(err)
    }
}

/// The entries in a cache file's bytes, or `None` when they are not a cache file of this
/// version: the reader every file on disk goes through, public for the fuzz tests.
pub fn parse_cache_file(bytes: &[u8]) -> Option<BTreeMap<String, Entry>> {
    parse(bytes).map(|f| f.entries)
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

fn lock_file(path: &Path, deadline: Instant) -> Result<LockGuard, CacheError> {
    let file = open_nofollow(path, OpenOptions::new().read(true).write(true).create(true))
        .map_err(|e| CacheError::Lock(path.to_path_buf(), e))?;
    let mut pause = Duration::from_millis(1);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(LockGuard { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(CacheError::Lock(path.to_path_buf(), e));
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(CacheError::LockTimeout(path.to_path_buf()));
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// A short file-name-safe hash of a cache key.
fn short_hash(key: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(key.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
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
    fn freshness() {
        let e = entry(1000.0, 43_200.0);
        assert!(e.is_fresh(1000.0));
        assert!(e.is_fresh(22_000.0));
        assert!(!e.is_fresh(23_000.0));
        assert!(e.is_usable(23_000.0));
        assert!(!e.is_usable(44_150.0));
        assert!(!e.is_usable(44_200.0));
        let short = entry(0.0, 4.0);
        assert!(short.is_usable(2.9));
        assert!(!short.is_usable(3.0));
        assert!(
            !entry(10_000.0, 100.0).is_fresh(1000.0),
            "issued in the future"
        );
        let stepped_back = Entry {
            expires_at: 990.0,
            ..entry(1100.0, 0.0)
        };
        assert!(!stepped_back.is_fresh(1000.0), "expired, issued ahead");
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
        let meta = std::fs::metadata(cache.path()).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o600);
        let meta = std::fs::metadata(cache.dir()).unwrap();
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
            b"{\"version\":2,\"entries\":{}}",
            b"{\"version\":1,\"entries\":{\"k\":{\"password\":5}}}",
        ] {
            std::fs::write(cache.path(), junk).unwrap();
            std::fs::set_permissions(
                cache.path(),
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
        std::fs::set_permissions(cache.path(), PermissionsExt::from_mode(0o666)).unwrap();
        assert!(cache.lookup("k").is_none(), "world-writable file trusted");
        std::fs::set_permissions(cache.path(), PermissionsExt::from_mode(0o600)).unwrap();
        assert!(cache.lookup("k").is_some());

        let elsewhere = dir.path().join("elsewhere.json");
        std::fs::rename(cache.path(), &elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, cache.path()).unwrap();
        assert!(cache.lookup("k").is_none(), "symlink followed");
        cache.store("k", entry(now(), 100.0), far()).unwrap();
        assert!(
            !std::fs::symlink_metadata(cache.path())
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
