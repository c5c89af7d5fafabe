//! The binary. Rust's runtime start-up is skipped (`no_main`): on a cache hit it cost an eighth of
//! all the instructions (reading `/proc/self/maps` to place the main thread's stack guard, an
//! alternate signal stack), for a stack-overflow message this program has no deep recursion to
//! need. What of it matters is done here: SIGPIPE is ignored, so that a client that closes the
//! pipe early makes a write fail instead of killing the helper; closed standard descriptors are
//! reopened on /dev/null; the arguments are read from `argv` (std reads them on its own only on
//! glibc); and stdout is flushed at the end.
#![no_main]

mod entry;

use std::io::Write;

#[unsafe(no_mangle)]
extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    // SAFETY: setting a signal's disposition to "ignore" has no preconditions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    ecr_login::guard_standard_fds();
    // SAFETY: these are the C runtime's own argc and argv.
    let (program, args) = unsafe { ecr_login::args_from_c(argc, argv) };
    let code = ecr_login::run_as(&program, &args);
    let _ = std::io::stdout().flush();
    code
}
