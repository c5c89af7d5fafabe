//! Reading files that someone else may name, without hanging and without trusting too much.
//!
//! A path from the environment can name a FIFO (an `open` that waits for a writer forever),
//! `/dev/zero` (a read that never ends), or a file planted by another user. Every such file is
//! opened non-blocking, must be a regular file, and is read up to a bound; files that steer which
//! token goes where must also belong to us (or root) and be writable by nobody else.
//!
//! The one device accepted is `/dev/null`, read as an empty file: it is how CI and test setups
//! switch a file off (`AWS_CONFIG_FILE=/dev/null`), and the AWS SDKs read it so. It is told by
//! its device number, not its path, so no other device passes under that name.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// What a file is, as far as its metadata can tell: device, inode, size, and modification and
/// change times in nanoseconds. Any rewrite, rename over it, `chmod` or `touch` changes it (the
/// change time cannot be set back). The one rule for "this file changed" wherever a key or a
/// fingerprint stands for a file's contents without reading them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileState {
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    pub(crate) size: u64,
    pub(crate) mtime: (i64, i64),
    pub(crate) ctime: (i64, i64),
}

impl FileState {
    pub(crate) fn of(meta: &std::fs::Metadata) -> FileState {
        FileState {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// The later of mtime and ctime, in Unix seconds. The ctime too: tools that copy a file
    /// (`cp -p`, `rsync -t`, tar) set its mtime back, but nobody can set its ctime.
    pub(crate) fn newest(&self) -> f64 {
        let secs = |(s, ns): (i64, i64)| s as f64 + ns as f64 / 1e9;
        secs(self.mtime).max(secs(self.ctime))
    }
}

impl std::fmt::Display for FileState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}:{}.{:09}:{}.{:09}",
            self.dev, self.ino, self.size, self.mtime.0, self.mtime.1, self.ctime.0, self.ctime.1
        )
    }
}

/// Who must own a file for us to act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trust {
    /// Anyone: the AWS SDKs read these files whoever owns them.
    Any,
    /// Us or root, and not writable by group or others: the file steers tokens.
    Owner,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum FileError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a regular file ({kind})", path.display())]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("{} is larger than {max} bytes", path.display())]
    TooLarge { path: PathBuf, max: u64 },
    /// Any of the above for a path a variable (or setting) named: the message says which, as
    /// that is what to change.
    #[error("{var}={}: {}", source.path().display(), source.problem())]
    Named { var: String, source: Box<FileError> },
    #[error("{} is not trusted: {why}; {fix}", path.display())]
    Untrusted {
        path: PathBuf,
        why: String,
        fix: String,
    },
}

impl FileError {
    /// The same error, saying that `var` named the path.
    pub(crate) fn named(self, var: impl Into<String>) -> FileError {
        match self {
            named @ FileError::Named { .. } => named,
            other => FileError::Named {
                var: var.into(),
                source: Box::new(other),
            },
        }
    }

    pub(crate) fn path(&self) -> &Path {
        match self {
            FileError::Io { path, .. }
            | FileError::NotRegular { path, .. }
            | FileError::TooLarge { path, .. }
            | FileError::Untrusted { path, .. } => path,
            FileError::Named { source, .. } => source.path(),
        }
    }

    /// What is wrong, without the path.
    fn problem(&self) -> String {
        match self {
            FileError::Io { source, .. } => format!("cannot read it: {source}"),
            FileError::NotRegular { kind, .. } => {
                format!("not a regular file ({kind}); name a file, or /dev/null for none")
            }
            FileError::TooLarge { max, .. } => format!("larger than {max} bytes"),
            FileError::Untrusted { why, fix, .. } => format!("not trusted: {why}; {fix}"),
            FileError::Named { source, .. } => source.problem(),
        }
    }
}

/// The whole file, or `None` when it does not exist.
pub(crate) fn read(path: &Path, max: u64, trust: Trust) -> Result<Option<Vec<u8>>, FileError> {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(FileError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    read_open(path, file, max, trust).map(Some)
}

/// Reads an opened file after checking what it is (the checks are on the opened file, so a
/// rename between check and read changes nothing).
fn read_open(path: &Path, file: File, max: u64, trust: Trust) -> Result<Vec<u8>, FileError> {
    let io = |source| FileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = file.metadata().map_err(io)?;
    check(path, &meta, trust)?;
    if is_dev_null(&meta) {
        return Ok(Vec::new());
    }
    if meta.len() > max {
        return Err(FileError::TooLarge {
            path: path.to_path_buf(),
            max,
        });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // The file may grow between fstat and read: the bound holds all the same.
    file.take(max + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > max {
        return Err(FileError::TooLarge {
            path: path.to_path_buf(),
            max,
        });
    }
    Ok(bytes)
}

/// A regular file, and, for [`Trust::Owner`], ours (or root's) and writable by nobody else; or
/// `/dev/null`, which holds nothing anyone could plant, whoever may write to it.
pub(crate) fn check(path: &Path, meta: &std::fs::Metadata, trust: Trust) -> Result<(), FileError> {
    if is_dev_null(meta) {
        return Ok(());
    }
    if !meta.is_file() {
        return Err(FileError::NotRegular {
            path: path.to_path_buf(),
            kind: kind_of(meta),
        });
    }
    if trust == Trust::Owner {
        let euid = euid();
        let untrusted = |why: String, fix: String| FileError::Untrusted {
            path: path.to_path_buf(),
            why,
            fix,
        };
        if meta.uid() != euid && meta.uid() != 0 {
            return Err(untrusted(
                format!(
                    "it is owned by uid {}, not by you (uid {euid}) or root",
                    meta.uid()
                ),
                format!(
                    "if its content is yours, `chown {euid} {}`; otherwise remove it",
                    path.display()
                ),
            ));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(untrusted(
                format!(
                    "it is writable by group or others (mode {:o})",
                    meta.mode() & 0o777
                ),
                format!("`chmod go-w {}`", path.display()),
            ));
        }
    }
    Ok(())
}

/// Replaces `path` with `bytes`: a complete temp file (`.<name>.<pid>.<nanos>.tmp`, never
/// through a planted symlink) written beside it, given `mode` (and `owner`, when root edits a
/// user's file), synced, then renamed over it. A reader sees the old file or the new one, and
/// a crash leaves at most a temp file, never half a file.
///
/// A device is never replaced: `/dev/null` reads as an empty file, so a path to it can reach a
/// writer, and renaming over it, as root, would break the machine. (A FIFO planted where a
/// file belongs is replaced, so that the file heals.)
pub(crate) fn replace(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
) -> std::io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && (meta.file_type().is_char_device() || meta.file_type().is_block_device())
    {
        return Err(std::io::Error::other(format!(
            "{} is not a regular file ({}); not replacing it",
            path.display(),
            kind_of(&meta)
        )));
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = dir.join(format!(".{name}.{}.{nanos}.tmp", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)?;
        f.write_all(bytes)?;
        if let Some((uid, gid)) = owner {
            // Only root can give a file away; for anyone else the owner is already right.
            let _ = std::os::unix::fs::fchown(&f, Some(uid), Some(gid));
        }
        // The umask does not apply to an explicit chmod: the file gets exactly `mode`.
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The null device (Linux's character device 1:3), whatever path reached it.
pub(crate) fn is_dev_null(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt;
    meta.file_type().is_char_device() && meta.rdev() == libc::makedev(1, 3)
}

fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a file"
    }
}

/// The user we run as: whose files we trust and write.
pub(crate) fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// A file or directory of ours that only we can write, and a file only we can read: how the
/// files we write ourselves (cache records, the memo) are checked before they are believed. We
/// write them 0600 in a 0700 directory, so one that is not was not written by us, and a token
/// in a file others can read may have been seen.
pub(crate) fn check_private(meta: &std::fs::Metadata, dir: bool) -> Result<(), String> {
    if dir != meta.is_dir() || (!dir && !meta.is_file()) {
        return Err(if dir {
            "not a directory"
        } else {
            "not a regular file"
        }
        .into());
    }
    let euid = euid();
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
    if !dir && meta.mode() & 0o044 != 0 {
        return Err(format!(
            "it is readable by group or others (mode {:o})",
            meta.mode() & 0o777
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_a_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(matches!(
            read(&fifo, 100, Trust::Any),
            Err(FileError::NotRegular { kind: "a FIFO", .. })
        ));
        assert!(matches!(
            read(Path::new("/dev/zero"), 100, Trust::Any),
            Err(FileError::NotRegular { .. })
        ));
        assert!(matches!(
            read(dir.path(), 100, Trust::Any),
            Err(FileError::NotRegular { .. })
        ));
        assert!(
            read(&dir.path().join("none"), 100, Trust::Any)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn dev_null_reads_as_empty_by_its_device_number() {
        for trust in [Trust::Any, Trust::Owner] {
            assert_eq!(
                read(Path::new("/dev/null"), 10, trust).unwrap().unwrap(),
                b""
            );
        }
        // Another path to the same device is the same device.
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("null");
        std::os::unix::fs::symlink("/dev/null", &link).unwrap();
        assert_eq!(read(&link, 10, Trust::Any).unwrap().unwrap(), b"");
        // Other character devices stay refused.
        for device in ["/dev/zero", "/dev/full", "/dev/urandom"] {
            assert!(
                matches!(
                    read(Path::new(device), 10, Trust::Any),
                    Err(FileError::NotRegular { .. })
                ),
                "{device}"
            );
        }
    }

    #[test]
    fn replace_never_writes_over_a_device() {
        use std::os::unix::fs::FileTypeExt;
        if euid() != 0 {
            eprintln!("SKIPPED: mknod needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let null = dir.path().join("null");
        let c = std::ffi::CString::new(null.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        let made = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) };
        assert_eq!(made, 0);
        let err = replace(&null, b"{}", 0o600, None).unwrap_err();
        assert!(err.to_string().contains("a character device"), "{err}");
        let meta = std::fs::symlink_metadata(&null).unwrap();
        assert!(meta.file_type().is_char_device());
        // Nothing left behind either.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        // Files are replaced as before.
        let file = dir.path().join("f");
        std::fs::write(&file, "old").unwrap();
        replace(&file, b"new", 0o600, None).unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"new");
    }

    #[test]
    fn named_errors_say_which_variable() {
        let e = read(Path::new("/dev/zero"), 10, Trust::Any)
            .unwrap_err()
            .named("AWS_CONFIG_FILE");
        let text = e.to_string();
        assert!(
            text.starts_with("AWS_CONFIG_FILE=/dev/zero: not a regular file (a character device)"),
            "{text}"
        );
        assert_eq!(e.path(), Path::new("/dev/zero"));
        // Naming twice keeps the first (innermost) name.
        assert_eq!(e.named("OTHER").to_string(), text);
    }

    #[test]
    fn bounds_the_size() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, "12345").unwrap();
        assert_eq!(read(&f, 5, Trust::Any).unwrap().unwrap(), b"12345");
        assert!(matches!(
            read(&f, 4, Trust::Any),
            Err(FileError::TooLarge { max: 4, .. })
        ));
    }

    #[test]
    fn owner_trust_refuses_writable_files() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, "x").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(read(&f, 5, Trust::Owner).is_ok());
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o664)).unwrap();
        let err = read(&f, 5, Trust::Owner).unwrap_err().to_string();
        assert!(err.contains("chmod go-w"), "{err}");
        assert!(read(&f, 5, Trust::Any).is_ok());
    }
}
