//! Stub: to be written.

/// Runs the `kubelet` front end; returns the exit code.
pub fn run(_args: &[String]) -> i32 {
    eprintln!("ecr-login: kubelet is not implemented yet");
    1
}
