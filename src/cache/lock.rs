//! Cache locks: kernel `flock`s on small files, with a heartbeat so that a stalled holder is
//! taken over instead of holding every other pull until its deadline.
//!
//! Locks die with their process, so a killed helper never blocks the next. Lock files may be
//! removed by the sweep (`crate::cache::sweep`) when nobody holds them; whoever locks a file
//! checks afterwards that it is still the one at its path, and starts again if it was removed
//! or replaced meanwhile, so that two processes never each hold "the" lock of one path.

use crate::util::log::debug;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// A lock holder proves it is making progress by touching its lock file this often (from a
/// thread of its own, so a long API call or fsync does not stop it)...
pub(crate) const HEARTBEAT: Duration = Duration::from_millis(200);
/// ...and a waiter that sees no touch for this long takes over: whatever stalled the holder
/// (Ctrl-Z, the cgroup freezer of `docker pause`, a debugger, a hung mount, another PID
/// namespace), it must not hold every other pull until the deadline.
pub(crate) const STALLED_AFTER: Duration = Duration::from_millis(1500);

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot lock {0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("timed out waiting for another ecr-login process to release {0}")]
    Timeout(PathBuf),
    #[error("the process holding {} has shown no progress for {:.1} s{}", .0.display(), .1.as_secs_f64(), .2.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    HolderStalled(PathBuf, Duration, Option<u32>),
}

/// A held lock; released when dropped (or when the process dies). While held, its heartbeat
/// tells waiters the holder is alive.
#[derive(Debug)]
pub struct LockGuard {
    file: Option<File>,
    heartbeat: Option<Heartbeat>,
}

impl Drop for LockGuard {
    /// Unlocks explicitly: the heartbeat thread holds a duplicate of the descriptor until it
    /// notices it should stop, and a `flock` lasts until every duplicate is closed, or until
    /// an unlock on any of them.
    fn drop(&mut self) {
        self.heartbeat.take();
        if let Some(file) = &self.file {
            let _ = file.unlock();
        }
    }
}

impl LockGuard {
    /// The guard of a disabled cache: holds nothing.
    pub(crate) fn none() -> LockGuard {
        LockGuard {
            file: None,
            heartbeat: None,
        }
    }

    /// Writes our pid into the lock file, so that a waiter can name a stopped holder.
    pub(crate) fn sign(&mut self) {
        if let Some(f) = self.file.as_mut() {
            use std::io::Write;
            let _ = f.set_len(0);
            let _ = f.rewind();
            let _ = write!(f, "{}", std::process::id());
        }
    }

    /// Stops the heartbeat while still holding the lock: how a test plays a stalled holder.
    #[cfg(test)]
    pub(crate) fn stop_heartbeat(&mut self) {
        self.heartbeat = None;
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

/// Opens without following a symlink planted at `path`, and without blocking on a FIFO.
pub(crate) fn open_nofollow(path: &Path, options: &mut OpenOptions) -> std::io::Result<File> {
    options
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
}

/// Waits for an exclusive lock on `path` until `deadline`, or until its holder has shown no
/// heartbeat for [`STALLED_AFTER`]; holds it with a heartbeat of its own.
pub(crate) fn lock(path: &Path, deadline: Instant) -> Result<LockGuard, LockError> {
    let file = open_lock_file(path).map_err(|e| LockError::Io(path.to_path_buf(), e))?;
    lock_opened(file, path, deadline)
}

fn open_lock_file(path: &Path) -> std::io::Result<File> {
    open_nofollow(path, OpenOptions::new().read(true).write(true).create(true))
}

/// [`lock`], from a file opened at `path` some time ago.
fn lock_opened(mut file: File, path: &Path, deadline: Instant) -> Result<LockGuard, LockError> {
    let io = |e| LockError::Io(path.to_path_buf(), e);
    let mut pause = Duration::from_millis(1);
    loop {
        match file.try_lock() {
            Ok(()) if is_at(&file, path) => {
                let heartbeat = Heartbeat::start(&file);
                return Ok(LockGuard {
                    file: Some(file),
                    heartbeat,
                });
            }
            Ok(()) => {
                debug!(
                    "{} was removed while we waited; locking it again",
                    path.display()
                );
                file = open_lock_file(path).map_err(io)?;
                continue;
            }
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(LockError::Timeout(path.to_path_buf()));
        }
        if let Some(silent) = silence(&file).filter(|s| *s >= STALLED_AFTER) {
            return Err(LockError::HolderStalled(
                path.to_path_buf(),
                silent,
                holder_pid(&mut file),
            ));
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// Takes the lock on `path` only if it is free at once: for best-effort work on the hit path,
/// which never waits. No heartbeat: the work is short and nobody takes it over.
pub(crate) fn try_lock(path: &Path) -> Option<LockGuard> {
    let file = open_nofollow(path, OpenOptions::new().read(true).write(true)).ok()?;
    file.try_lock().ok()?;
    is_at(&file, path).then_some(LockGuard {
        file: Some(file),
        heartbeat: None,
    })
}

/// Removes the lock file at `path` if nobody holds it and nobody has used it for `unused`.
/// Holding the lock while removing makes this safe: a process that opened the file before
/// and locks it after sees that it is no longer at its path, and locks the new one.
pub(crate) fn remove_unused(path: &Path, unused: Duration) -> bool {
    let Some(guard) = try_lock(path) else {
        return false;
    };
    let idle = guard
        .file
        .as_ref()
        .and_then(silence)
        .is_some_and(|s| s >= unused);
    idle && std::fs::remove_file(path).is_ok()
}

/// Whether the open `file` is still the file at `path` (not removed or replaced).
fn is_at(file: &File, path: &Path) -> bool {
    match (file.metadata(), std::fs::symlink_metadata(path)) {
        (Ok(open), Ok(now)) => open.dev() == now.dev() && open.ino() == now.ino(),
        _ => false,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(20)
    }

    #[test]
    fn waits_until_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.lock");
        let held = lock(&path, far()).unwrap();
        let soon = Instant::now() + Duration::from_millis(50);
        assert!(matches!(lock(&path, soon), Err(LockError::Timeout(_))));
        drop(held);
        assert!(lock(&path, soon).is_ok());
    }

    #[test]
    fn a_holder_without_a_heartbeat_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.lock");
        let mut held = lock(&path, far()).unwrap();
        // A live holder's heartbeat keeps waiters waiting...
        let soon = Instant::now() + STALLED_AFTER + Duration::from_millis(500);
        assert!(matches!(lock(&path, soon), Err(LockError::Timeout(_))));
        // ...and a holder that stops beating is given up on.
        held.stop_heartbeat();
        let old = SystemTime::now() - STALLED_AFTER * 2;
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert!(matches!(
            lock(&path, far()),
            Err(LockError::HolderStalled(..))
        ));
    }

    #[test]
    fn a_held_or_recently_used_lock_is_not_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.lock");
        let held = lock(&path, far()).unwrap();
        assert!(!remove_unused(&path, Duration::ZERO), "a held lock removed");
        drop(held);
        assert!(!remove_unused(&path, Duration::from_secs(600)));
        assert!(path.exists());
        assert!(remove_unused(&path, Duration::ZERO));
        assert!(!path.exists());
    }

    /// A waiter that opened the lock file before the sweep removed it must not believe it
    /// holds the lock of the path when it gets the old file's lock: someone else may hold the
    /// new file's.
    #[test]
    fn a_lock_on_a_removed_file_is_taken_again_on_the_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.lock");
        let opened_before = open_lock_file(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let holder = lock(&path, far()).unwrap();
        let soon = Instant::now() + Duration::from_millis(100);
        assert!(
            matches!(
                lock_opened(opened_before, &path, soon),
                Err(LockError::Timeout(_))
            ),
            "two holders of one lock"
        );
        drop(holder);
        let opened_before = open_lock_file(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let got = lock_opened(opened_before, &path, far()).unwrap();
        assert!(is_at(got.file.as_ref().unwrap(), &path));
    }
}
