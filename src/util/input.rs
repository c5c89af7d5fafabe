//! Standard input with a deadline: a client that opens the pipe and never closes it must not
//! hang the helper (and with it a `docker pull` or the kubelet) forever.

use std::io::Read;

/// Why a bounded read failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InputError {
    #[error("cannot read stdin: {0}")]
    Read(#[from] std::io::Error),
    #[error("the input is longer than {0} bytes")]
    TooLarge(usize),
}

/// Reads at most `max` bytes; more is an error, not something to wait for.
pub(crate) fn read_bounded(input: &mut dyn Read, max: usize) -> Result<Vec<u8>, InputError> {
    // Room for a server URL at once: one read, then the one that sees the end. (`read_to_end`
    // zeroes the spare room it reads into, so more would cost on every call.)
    let mut buf = Vec::with_capacity(max.min(1024));
    input.take(max as u64 + 1).read_to_end(&mut buf)?;
    if buf.len() > max {
        return Err(InputError::TooLarge(max));
    }
    Ok(buf)
}
use std::os::fd::AsRawFd;
use std::time::Instant;

/// Reads standard input, failing with `TimedOut` once `deadline` passes with nothing to read.
/// One `poll` per read: two system calls on the hit path, where the input is already there.
pub(crate) struct Stdin {
    deadline: Instant,
}

impl Stdin {
    pub(crate) fn until(deadline: Instant) -> Stdin {
        Stdin { deadline }
    }
}

impl Read for Stdin {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // The raw descriptor, not std's buffered handle: data sitting in a userspace buffer
        // would not wake `poll`.
        let fd = std::io::stdin().as_raw_fd();
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "timed out waiting for input on stdin",
                ));
            }
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
            // SAFETY: one valid pollfd for the duration of the call.
            let ready = unsafe { libc::poll(&mut pfd, 1, ms) };
            if ready < 0 {
                let err = std::io::Error::last_os_error();
                if err.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(err);
            }
            if ready > 0 {
                // Readable, closed (POLLHUP) or in error: read() reports which.
                // SAFETY: `buf` is valid for `buf.len()` bytes of writes.
                let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
                if n < 0 {
                    let err = std::io::Error::last_os_error();
                    if err.kind() == std::io::ErrorKind::Interrupted {
                        continue;
                    }
                    return Err(err);
                }
                return Ok(n as usize);
            }
        }
    }
}
