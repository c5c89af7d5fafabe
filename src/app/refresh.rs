//! The background refresh: a token due for refresh is served at once, and a detached copy of
//! this program refreshes it, so that no `docker pull` and no kubelet waits on AWS while a
//! usable token exists.
//!
//! The copy runs the same front end with the same request on its stdin and the same
//! environment, plus `AWS_ECR_REFRESH=detached` ([`crate::engine::token::DETACHED`]), in a session
//! of its own with stdout and stderr on `/dev/null`: Docker and the kubelet, who wait for our
//! output to end, never wait for it, and a terminal's Ctrl-C does not reach it. It refreshes
//! with the whole timeout under the usual refresh lock (one refresher per key) and records a
//! failure as any refresh does. Its log lines go to `AWS_ECR_LOG_FILE` when that is set.

use crate::util::log::debug;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

/// Starts the detached refresher for `action` (`get`, `kubelet`, ...) with `request` on its
/// stdin. Best effort: if it cannot start, the next call past the token's half-life tries
/// again, and an inline refresh happens once the token is no longer usable.
pub(crate) fn start(action: &str, request: &[u8]) {
    let mut command = Command::new("/proc/self/exe");
    command
        .arg(action)
        .env("AWS_ECR_REFRESH", crate::engine::token::DETACHED)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: setsid is async-signal-safe and touches no memory of ours; the child is the
    // leader of a new session, away from the caller's terminal and process group.
    unsafe {
        command.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    match command.spawn() {
        Ok(mut child) => {
            if let Some(mut stdin) = child.stdin.take() {
                // A request fits in a pipe's buffer; the child reads it at once in any case.
                let _ = stdin.write_all(request);
            }
            debug!("refreshing in the background (pid {})", child.id());
        }
        Err(e) => debug!("could not start the background refresh: {e}"),
    }
}
