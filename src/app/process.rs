//! The process's edges that Rust's runtime start-up would have handled, had `main` not been
//! the C entry point (see src/main.rs): the arguments, the three standard descriptors, and a
//! stdout that reports a closed descriptor instead of swallowing it.

use crate::app::exit::Exit;
use std::ffi::{CStr, c_char, c_int};
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set when the process started with descriptor 1 closed (`>&-`).
static STDOUT_WAS_CLOSED: AtomicBool = AtomicBool::new(false);

/// The program's file name (`argv[0]` without its directory) and its arguments, read from the
/// `argc`/`argv` that the C entry point receives. std's `env::args` is filled from them only
/// on glibc (its `.init_array` hook); on musl it stays empty under `no_main`. Arguments that
/// are not UTF-8 are kept lossily: they cannot name an action and become a usage error.
///
/// # Safety
/// `argv` is null, or points to at least `argc` pointers, each null or a NUL-terminated string,
/// all valid for the life of the process (what the C runtime hands `main`).
pub unsafe fn args_from_c(argc: c_int, argv: *const *const c_char) -> (String, Vec<String>) {
    let count = usize::try_from(argc).unwrap_or(0);
    let mut strings = Vec::with_capacity(count);
    if !argv.is_null() {
        for i in 0..count {
            // SAFETY: the caller promises `argc` readable pointers.
            let arg = unsafe { *argv.add(i) };
            if arg.is_null() {
                break;
            }
            // SAFETY: a non-null entry is a NUL-terminated string (the caller's promise).
            let bytes = unsafe { CStr::from_ptr(arg) }.to_bytes();
            strings.push(String::from_utf8_lossy(bytes).into_owned());
        }
    }
    let mut strings = strings.into_iter();
    let program = strings
        .next()
        .map(|p| match p.rsplit_once('/') {
            Some((_, name)) => name.to_string(),
            None => p,
        })
        .unwrap_or_default();
    (program, strings.collect())
}

/// Makes sure descriptors 0, 1 and 2 are open, as Rust's start-up does: a closed one is opened
/// on `/dev/null`, so that no file this process opens later takes its number (the cache file
/// as "stdout" would receive the token). One `poll` call when all three are open.
pub fn guard_standard_fds() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: `fds` is a valid array of three pollfd; a zero timeout never blocks.
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) };
    if rc < 0 {
        return;
    }
    for pfd in fds.iter().filter(|p| p.revents & libc::POLLNVAL != 0) {
        // SAFETY: opening a constant path; the lowest free descriptor is the closed one, as
        // they are opened in order.
        unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        if pfd.fd == 1 {
            STDOUT_WAS_CLOSED.store(true, Ordering::Relaxed);
        }
    }
}

/// Standard output for a front end's answer. Unlike std's, a descriptor that was closed at
/// start is an error (std reports a write to a closed stdout as done), and the first error is
/// kept, so that the exit code can say the answer never arrived.
pub(crate) struct Stdout {
    inner: io::StdoutLock<'static>,
    error: Option<io::ErrorKind>,
}

pub(crate) fn stdout() -> Stdout {
    Stdout {
        inner: io::stdout().lock(),
        error: None,
    }
}

impl Stdout {
    /// Flushes; `Err` when anything written was lost.
    pub(crate) fn finish(mut self) -> io::Result<()> {
        let flushed = self.flush();
        match self.error {
            Some(kind) => Err(io::Error::new(kind, "cannot write to stdout")),
            None => flushed,
        }
    }

    fn check<T>(&mut self, result: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &result {
            self.error.get_or_insert(e.kind());
        }
        result
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if STDOUT_WAS_CLOSED.load(Ordering::Relaxed) {
            return self.check(Err(io::Error::from_raw_os_error(libc::EBADF)));
        }
        let result = self.inner.write(buf);
        self.check(result)
    }

    fn flush(&mut self) -> io::Result<()> {
        if STDOUT_WAS_CLOSED.load(Ordering::Relaxed) {
            return self.check(Err(io::Error::from_raw_os_error(libc::EBADF)));
        }
        let result = self.inner.flush();
        self.check(result)
    }
}

/// Writes a front end's whole answer; `Failed` (said on stderr) when stdout could not take it.
pub(crate) fn print(text: &dyn std::fmt::Display) -> Exit {
    let mut out = stdout();
    let _ = write!(out, "{text}");
    finish(out, Exit::Ok)
}

/// `exit`, unless what was written to `out` was lost: then `Failed`, said on stderr. The one
/// place a lost answer is told, for every front end.
pub(crate) fn finish(out: Stdout, exit: Exit) -> Exit {
    match out.finish() {
        Ok(()) => exit,
        Err(e) => {
            crate::util::log::print(
                crate::util::log::Level::Error,
                format_args!("cannot write to stdout: {e}"),
            );
            Exit::Failed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;

    fn drive(args: &[&[u8]]) -> (String, Vec<String>) {
        let owned: Vec<CString> = args.iter().map(|a| CString::new(*a).unwrap()).collect();
        let mut argv: Vec<*const c_char> = owned.iter().map(|a| a.as_ptr()).collect();
        argv.push(std::ptr::null());
        // SAFETY: `argv` holds `args.len()` valid strings and a terminating null.
        unsafe { args_from_c(args.len() as c_int, argv.as_ptr()) }
    }

    #[test]
    fn arguments_come_from_argv() {
        assert_eq!(
            drive(&[b"/usr/bin/docker-credential-ecr-login", b"get"]),
            (
                "docker-credential-ecr-login".to_string(),
                vec!["get".to_string()]
            )
        );
        assert_eq!(
            drive(&[b"ecr-credential-provider", b"--bogus", b"get-credentials"]),
            (
                "ecr-credential-provider".to_string(),
                vec!["--bogus".to_string(), "get-credentials".to_string()]
            )
        );
        let (_, args) = drive(&[b"x", b"g\xffet"]);
        assert_eq!(args, ["g\u{fffd}et"]);
        assert_eq!(drive(&[]), (String::new(), Vec::new()));
        assert_eq!(drive(&[b""]), (String::new(), Vec::new()));
    }

    #[test]
    fn odd_argv_is_read_safely() {
        assert_eq!(
            // SAFETY: a null argv is allowed.
            unsafe { args_from_c(3, std::ptr::null()) },
            (String::new(), Vec::new())
        );
        let program = CString::new("p").unwrap();
        let argv = [program.as_ptr(), std::ptr::null()];
        // A negative count reads nothing; an early null ends the list.
        assert_eq!(
            // SAFETY: `argv` holds one NUL-terminated string and a null, both alive here.
            unsafe { args_from_c(-1, argv.as_ptr()) },
            (String::new(), Vec::new())
        );
        for argc in [1, 2] {
            assert_eq!(
                // SAFETY: `argv` holds `argc` (1 or 2) pointers: a string and a null.
                unsafe { args_from_c(argc, argv.as_ptr()) },
                ("p".to_string(), Vec::new())
            );
        }
    }
}
