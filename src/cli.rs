//! Command-line dispatch: which front end runs, chosen by the action argument.

use crate::docker;
use std::io::Write;

pub const NAME: &str = "docker-credential-ecr-login";
/// The kubelet plugin's name: invoked under it, the binary speaks the provider protocol.
pub const KUBELET_NAME: &str = "ecr-credential-provider";
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// `--version` names the commit too (recorded by build.rs), so a bug report says what was built.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ECR_LOGIN_COMMIT"),
    ")"
);

const USAGE: &str = "usage: docker-credential-ecr-login <get|list|store|erase|version>";

/// Runs the program for `args` (without the program name) and returns the exit code.
pub fn run(args: &[String]) -> i32 {
    run_as(NAME, args)
}

/// Runs the program invoked under `program` (argv[0]'s file name): the kubelet runs the plugin
/// as `<bin dir>/ecr-credential-provider`, a link to this binary.
pub fn run_as(program: &str, args: &[String]) -> i32 {
    if program == KUBELET_NAME {
        return crate::kubelet::run(args);
    }
    if let Some((first, rest)) = args.split_first() {
        match first.as_str() {
            "kubelet" => return crate::kubelet::run(rest),
            "configure" => return crate::configure::run(rest),
            "doctor" => return crate::doctor::run(rest),
            _ => {}
        }
    }
    let stdin = &mut std::io::stdin().lock();
    let stdout = &mut std::io::stdout().lock();
    let code = match args {
        [action] => match action.as_str() {
            "get" => docker::get(stdin, stdout),
            "list" => docker::list(stdout),
            "store" => docker::store_or_erase(true, stdin, stdout),
            "erase" => docker::store_or_erase(false, stdin, stdout),
            "version" | "--version" | "-V" => {
                let _ = writeln!(stdout, "{NAME} (ecr-login) {LONG_VERSION}");
                0
            }
            _ => usage(),
        },
        _ => usage(),
    };
    let _ = stdout.flush();
    code
}

fn usage() -> i32 {
    let _ = writeln!(std::io::stderr(), "{USAGE}");
    1
}
