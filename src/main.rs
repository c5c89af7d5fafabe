//! The binary. Rust's runtime start-up is skipped (`no_main`): on a cache hit it cost an eighth of
//! all the instructions (reading `/proc/self/maps` to place the main thread's stack guard, an
//! alternate signal stack), for a stack-overflow message this program has no deep recursion to
//! need. What of it matters is done here: SIGPIPE is ignored, so that a client that closes the
//! pipe early makes a write fail instead of killing the helper, and stdout is flushed at the end.
#![no_main]

use std::io::Write;

#[unsafe(no_mangle)]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    // SAFETY: setting a signal's disposition to "ignore" has no preconditions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    // std reads the arguments on its own (glibc hands them to its `.init_array` hook).
    let mut args = std::env::args_os();
    let program = args
        .next()
        .as_deref()
        .and_then(|p| std::path::Path::new(p).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Arguments that are not UTF-8 cannot name an action; they become a usage error.
    let args: Vec<String> = args.map(|a| a.to_string_lossy().into_owned()).collect();
    let code = ecr_login::cli::run_as(&program, &args);
    let _ = std::io::stdout().flush();
    code
}
