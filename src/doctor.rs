//! Stub: to be written.

/// Runs the `doctor` front end; returns the exit code.
pub fn run(_args: &[String]) -> i32 {
    eprintln!("ecr-login: doctor is not implemented yet");
    1
}
