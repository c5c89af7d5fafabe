//! Command-line dispatch: which front end runs, chosen by the action argument.
//!
//! One clap definition serves `--help`, the man page ([`crate::app::man`]) and the parsing. The
//! Docker protocol's contract is kept exactly: one action argument, and an unknown action or a
//! wrong number of arguments gets a usage line on stderr and exit code 1 (never clap's 2, which
//! a caller of a credential helper would not expect). The kubelet front end parses its own
//! arguments, so they are passed to it untouched. Every front end ends in an [`Exit`], made a
//! number here and nowhere else; each tells its own failure once, and a lost stdout is told by
//! [`crate::app::process::finish`].

use crate::app::command::command;
use crate::app::docker::{self, Action};
use crate::app::exit::Exit;
use crate::app::program::{KUBELET_NAME, LONG_VERSION, NAME};
use crate::util::log::debug;
use crate::util::settings::Settings;
use clap::ArgMatches;
use std::io::Write;
use std::time::Instant;

const USAGE: &str = "usage: docker-credential-ecr-login <get|list|store|erase|version> (or get-login-password, configure, doctor, kubelet, man, completions, help; `help` for more)";

/// Runs the program invoked under `program` (`argv[0]`'s file name): the kubelet runs the plugin
/// as `<bin dir>/ecr-credential-provider`, a link to this binary.
pub fn run_as(program: &str, args: &[String]) -> i32 {
    // The environment is read here, once; everything below works from this value.
    let settings = Settings::from_process();
    crate::util::log::init(&settings);
    warn_unusable_vars();
    if program == KUBELET_NAME {
        return crate::app::kubelet::run(settings, args).code();
    }
    if let Some(("kubelet", rest)) = args.split_first().map(|(a, r)| (a.as_str(), r)) {
        return crate::app::kubelet::run(settings, rest).code();
    }
    let started = Instant::now();
    // The protocol's actions run on every pull: they skip building the clap definitions, which
    // would parse them the same way (one word, nothing after it).
    let code = match args {
        [action] if let Some(action) = Action::parse(action) => docker::run(settings, action),
        [flag] if flag == "-v" => version(),
        _ => match command()
            .try_get_matches_from(std::iter::once(NAME).chain(args.iter().map(String::as_str)))
        {
            Ok(m) => dispatch(settings, &m),
            Err(e) => return clap_error(e, args).code(),
        },
    }
    .code();
    debug!(
        "{} finished in {:?} with exit code {code}",
        args.first().map_or("(no action)", String::as_str),
        started.elapsed()
    );
    code
}

/// Variables of ours whose values are not UTF-8 count as unset; saying so once beats a
/// setting that silently does nothing.
fn warn_unusable_vars() {
    let names = crate::util::settings::not_utf8();
    if !names.is_empty() {
        crate::util::log::warning!(
            "ignoring {}: the value is not UTF-8; set it in UTF-8 or unset it",
            names.join(", ")
        );
    }
}

fn dispatch(settings: Settings, matches: &ArgMatches) -> Exit {
    match matches.subcommand() {
        Some((action, _)) if let Some(action) = Action::parse(action) => {
            docker::run(settings, action)
        }
        Some(("configure", m)) => crate::app::configure::run(&settings, m),
        Some(("get-login-password", m)) => crate::app::login_password::run(settings, m),
        Some(("doctor", m)) => crate::app::doctor::run(settings, m),
        Some(("man", _)) => {
            let mut stdout = crate::app::process::stdout();
            let _ = crate::app::man::render(&mut stdout);
            crate::app::process::finish(stdout, Exit::Ok)
        }
        Some(("completions", m)) => completions(m),
        None if matches.get_flag("version") => version(),
        _ => misuse(Misuse::Protocol),
    }
}

fn version() -> Exit {
    crate::app::process::print(&format_args!("{NAME} (ecr-login) {LONG_VERSION}\n"))
}

/// `completions SHELL`: clap_complete writes the script from the same definition as `--help`.
fn completions(matches: &ArgMatches) -> Exit {
    use clap_complete::Shell;
    let shell = match matches.get_one::<String>("shell").map(String::as_str) {
        Some("bash") => Shell::Bash,
        Some("zsh") => Shell::Zsh,
        Some("fish") => Shell::Fish,
        // clap accepts only the three.
        _ => return misuse(Misuse::Protocol),
    };
    // Into memory first: clap_complete panics when its writer fails (a closed stdout).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command(), NAME, &mut script);
    let mut stdout = crate::app::process::stdout();
    let _ = stdout.write_all(&script);
    crate::app::process::finish(stdout, Exit::Ok)
}

/// Help goes to stdout with exit 0. A mistake in a subcommand's options gets clap's message,
/// which names the option and shows that subcommand's usage; anything else is the Docker
/// protocol's usage line.
fn clap_error(e: clap::Error, args: &[String]) -> Exit {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            crate::app::process::print(&e.render())
        }
        _ if matches!(
            args.first().map(String::as_str),
            Some("configure" | "doctor" | "get-login-password" | "completions" | "help")
        ) =>
        {
            // clap's own "error: " becomes the prefix every message of this program has.
            let text = e.render().to_string();
            let text = text.strip_prefix("error: ").unwrap_or(&text);
            misuse(Misuse::Subcommand(text.trim_end()))
        }
        _ => misuse(Misuse::Protocol),
    }
}

/// A command line that names nothing to run.
enum Misuse<'a> {
    /// Not a subcommand's own mistake: the Docker protocol's usage line, as it always was.
    Protocol,
    /// A mistake in a subcommand's options, in clap's words.
    Subcommand(&'a str),
}

/// The one place a usage error is told.
fn misuse(misuse: Misuse<'_>) -> Exit {
    match misuse {
        Misuse::Protocol => {
            let _ = writeln!(std::io::stderr(), "{USAGE}");
        }
        Misuse::Subcommand(text) => {
            crate::util::log::print(crate::util::log::Level::Error, format_args!("{text}"))
        }
    }
    Exit::Usage
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definition_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn the_fast_path_takes_exactly_the_protocol_actions() {
        let names: Vec<String> = command()
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .filter(|n| Action::parse(n).is_some())
            .collect();
        assert_eq!(names, ["get", "list", "store", "erase", "version"]);
        // Each of them takes no argument, so clap would accept `[action]` and nothing more.
        for sub in command()
            .get_subcommands()
            .filter(|c| Action::parse(c.get_name()).is_some())
        {
            assert!(
                sub.get_arguments().all(|a| a.get_id() == "help"),
                "{}",
                sub.get_name()
            );
        }
    }
}
