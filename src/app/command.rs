//! The whole command line as one clap definition: `--help`, the man page
//! ([`crate::app::man`]), the completion scripts and the parsing ([`crate::app::cli`]) all
//! read it.

use crate::app::program::{LONG_VERSION, NAME};
use clap::{Arg, ArgAction, Command};

const ABOUT: &str = "Amazon ECR credentials for Docker, podman, Helm and the kubelet";

const LONG_ABOUT: &str = "\
Amazon ECR credentials for Docker, podman, Helm and the kubelet.

A docker-credential-helper: Docker and the tools that read its config.json run it with one \
action (get, list, store, erase, version) and a server URL on stdin, and it answers with a \
12-hour ECR token, fetched with the standard AWS credential chain and cached per region and \
identity in ~/.ecr/ecr-login-cache/.

Route registries to it with `docker-credential-ecr-login configure --registry HOST`, and ask \
`docker-credential-ecr-login doctor HOST` why a pull says \"no basic auth credentials\".";

/// The whole command line, as `--help` and the man page show it.
pub(crate) fn command() -> Command {
    Command::new(NAME)
        .about(ABOUT)
        .long_about(LONG_ABOUT)
        .version(LONG_VERSION)
        .override_usage("docker-credential-ecr-login <COMMAND>")
        .disable_version_flag(true)
        .args_conflicts_with_subcommands(true)
        .arg(
            Arg::new("version")
                .short('V')
                .long("version")
                .action(ArgAction::SetTrue)
                .help("Print the version (as the `version` action does)"),
        )
        .subcommand(
            Command::new("get")
                .about("Print the credentials for the server URL read from stdin (Docker protocol)")
                .long_about(
                    "Reads a server URL on stdin and prints {\"ServerURL\",\"Username\",\"Secret\"} \
                     on stdout. When there is no token to give, prints Docker's \"credentials not \
                     found in native keychain\", exits 1, and says why on stderr.",
                ),
        )
        .subcommand(
            Command::new("list")
                .about("Print the registries whose tokens are cached, as JSON (Docker protocol)"),
        )
        .subcommand(Command::new("store").about(
            "Accept `docker login` (Docker protocol): ECR tokens come from AWS, so nothing is stored",
        ))
        .subcommand(Command::new("erase").about(
            "Accept `docker logout` (Docker protocol): nothing was stored, so nothing is erased",
        ))
        .subcommand(Command::new("version").about("Print the version"))
        .subcommand(crate::app::login_password::command())
        .subcommand(crate::app::configure::command())
        .subcommand(crate::app::doctor::command())
        .subcommand(
            Command::new("kubelet")
                .about("Run as the kubelet's image credential provider (also when invoked as ecr-credential-provider)")
                .long_about(crate::app::kubelet::HELP)
                .disable_help_flag(true)
                .arg(
                    Arg::new("args")
                        .num_args(0..)
                        .trailing_var_arg(true)
                        .allow_hyphen_values(true)
                        .help("Passed to the provider"),
                ),
        )
        .subcommand(Command::new("man").about(
            "Print the man page (roff) on stdout: `docker-credential-ecr-login man | man -l -`",
        ))
        .subcommand(
            Command::new("completions")
                .about("Print a shell completion script: bash, zsh or fish")
                .long_about(
                    "Prints the completion script for SHELL on stdout. bash: \
                     `docker-credential-ecr-login completions bash > \
                     ~/.local/share/bash-completion/completions/docker-credential-ecr-login`; \
                     zsh: into a directory of $fpath as _docker-credential-ecr-login; fish: \
                     `> ~/.config/fish/completions/docker-credential-ecr-login.fish`.",
                )
                .arg(
                    Arg::new("shell")
                        .value_name("SHELL")
                        .required(true)
                        .value_parser(clap::builder::PossibleValuesParser::new([
                            "bash", "zsh", "fish",
                        ]))
                        .help("bash, zsh or fish"),
                ),
        )
}
