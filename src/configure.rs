//! Stub: to be written.

/// Runs the `configure` front end; returns the exit code.
pub fn run(_args: &[String]) -> i32 {
    eprintln!("ecr-login: configure is not implemented yet");
    1
}
