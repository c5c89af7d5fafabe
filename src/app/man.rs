//! The man page, generated from the clap definitions in [`crate::app::cli`] so that it cannot drift
//! from `--help`. Packaging runs `docker-credential-ecr-login man > docker-credential-ecr-login.1`.
//!
//! clap_mangen renders the top of the page; each subcommand gets a subsection here rather than
//! a page of its own, because one page is what gets installed, and the environment, files and
//! exit status are written out as the sections a man page reader looks for.

use clap::{Arg, Command};
use roff::{Roff, bold, italic, roman};
use std::io::Write;

const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "AWS_ECR_CONFIG",
        "The registry config file (default ~/.ecr/config.toml): per-registry profiles and roles, and aliases for custom domains.",
    ),
    ("AWS_ECR_CACHE_DIR", "The cache directory (default ~/.ecr)."),
    (
        "AWS_ECR_DISABLE_CACHE",
        "Any non-empty value: no cache; every call asks AWS.",
    ),
    (
        "AWS_ECR_IGNORE_CREDS_STORAGE",
        "true: store and erase succeed as no-ops.",
    ),
    (
        "AWS_ECR_TIMEOUT",
        "Seconds a get may take in all (default 30).",
    ),
    (
        "AWS_ECR_LOG_LEVEL",
        "error, warn (default), info, debug or trace.",
    ),
    (
        "AWS_ECR_LOG_FILE",
        "Append log lines to this file instead of stderr.",
    ),
    (
        "DOCKER_CONFIG",
        "The directory of Docker's config.json (default ~/.docker).",
    ),
    (
        "REGISTRY_AUTH_FILE",
        "The containers auth file that podman, skopeo and buildah read first (configure --podman writes it).",
    ),
    (
        "HELM_REGISTRY_CONFIG",
        "Helm's registry config (configure --helm writes it).",
    ),
    (
        "AWS_PROFILE, AWS_ACCESS_KEY_ID, AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE, ...",
        "The standard AWS credential chain.",
    ),
    (
        "AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_ECR, AWS_ENDPOINT_URL_ECR_PUBLIC, AWS_ENDPOINT_URL_STS",
        "Endpoint overrides (VPC endpoints).",
    ),
];

const FILES: &[(&str, &str)] = &[
    (
        "~/.ecr/ecr-login-cache/",
        "The token cache (mode 0700): one file per region and identity (mode 0600), with its lock.",
    ),
    (
        "~/.ecr/config.toml",
        "The registry config: [[registry]] host, profile, role_arn, region; [[alias]] host, registry.",
    ),
    (
        "~/.docker/config.json",
        "Docker's config: credHelpers entries route registries to this helper.",
    ),
];

const EXIT_STATUS: &[(&str, &str)] = &[
    ("0", "Success; for doctor, a token could be had."),
    (
        "1",
        "Failure: no credentials for get (the reason is on stderr), a usage error, or a failed check.",
    ),
];

/// What roff's writer puts before each piece it renders; the page needs it once.
const APOSTROPHE_PREAMBLE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";

/// Writes the roff page.
pub(crate) fn render(out: &mut dyn Write) -> std::io::Result<()> {
    let mut cmd = crate::app::command::command();
    cmd.build();
    let man = clap_mangen::Man::new(cmd.clone());
    let mut buf = Vec::new();
    man.render_title(&mut buf)?;
    man.render_name_section(&mut buf)?;
    man.render_synopsis_section(&mut buf)?;
    man.render_description_section(&mut buf)?;
    man.render_options_section(&mut buf)?;

    let mut roff = Roff::default();
    roff.control("SH", ["COMMANDS"]);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        render_subcommand(&mut roff, sub);
    }
    definitions(&mut roff, "ENVIRONMENT", ENVIRONMENT);
    roff.control("TP", []);
    roff.text([bold("Also read")]);
    roff.text([roman(format!(
        "{}. The project's docs/environment.md describes each.",
        undescribed().join(", ")
    ))]);
    definitions(&mut roff, "FILES", FILES);
    definitions(&mut roff, "EXIT STATUS", EXIT_STATUS);
    roff.control("SH", ["SEE ALSO"]);
    roff.text([roman("docker(1), podman(1), helm(1), aws(1)")]);
    roff.to_writer(&mut buf)?;
    man.render_version_section(&mut buf)?;

    let text = String::from_utf8_lossy(&buf);
    out.write_all(APOSTROPHE_PREAMBLE.as_bytes())?;
    out.write_all(text.replace(APOSTROPHE_PREAMBLE, "").as_bytes())
}

/// The variables of [`crate::util::settings::NAMES`] that no ENVIRONMENT entry names: listed by name,
/// so that the page shows every variable the program reads.
fn undescribed() -> Vec<&'static str> {
    let described: Vec<&str> = ENVIRONMENT
        .iter()
        .flat_map(|(term, _)| term.split(", "))
        .collect();
    crate::util::settings::NAMES
        .iter()
        .copied()
        .filter(|name| !described.contains(name))
        .collect()
}

fn render_subcommand(roff: &mut Roff, sub: &Command) {
    roff.control("SS", [sub.get_name()]);
    let mut synopsis = vec![
        bold(crate::app::program::NAME),
        roman(" "),
        bold(sub.get_name()),
    ];
    for arg in sub
        .get_arguments()
        .filter(|a| !a.is_hide_set() && a.get_id() != "help")
    {
        synopsis.push(roman(" "));
        synopsis.extend(synopsis_item(arg));
    }
    roff.text(synopsis);
    if let Some(about) = sub.get_long_about().or_else(|| sub.get_about()) {
        roff.control("PP", []);
        roff.text([roman(about.to_string())]);
    }
    for arg in sub
        .get_arguments()
        .filter(|a| !a.is_hide_set() && a.get_id() != "help")
    {
        roff.control("TP", []);
        roff.text(arg_synopsis(arg));
        if let Some(help) = arg.get_long_help().or_else(|| arg.get_help()) {
            roff.text([roman(help.to_string())]);
        }
    }
}

/// `[--registry HOST]...`, `[--json]`, `[HOST]`: how an argument appears in a synopsis.
fn synopsis_item(arg: &Arg) -> Vec<roff::Inline> {
    let mut parts = vec![roman("[")];
    if arg.is_positional() {
        parts.push(italic(value_name(arg)));
    } else if let Some(long) = arg.get_long() {
        parts.push(bold(format!("--{long}")));
        if arg.get_action().takes_values() {
            parts.push(roman(" "));
            parts.push(italic(value_name(arg)));
        }
    }
    parts.push(roman("]"));
    if matches!(arg.get_action(), clap::ArgAction::Append)
        || arg.get_num_args().is_some_and(|n| n.max_values() > 1)
    {
        parts.push(roman("..."));
    }
    parts
}

fn value_name(arg: &Arg) -> String {
    arg.get_value_names()
        .and_then(|v| v.first())
        .map(|v| v.to_string())
        .unwrap_or_else(|| arg.get_id().as_str().to_uppercase())
}

/// `-r, --registry HOST`, `--json`, `HOST`: the term of an argument's definition.
fn arg_synopsis(arg: &Arg) -> Vec<roff::Inline> {
    let value = value_name(arg);
    let mut parts = Vec::new();
    if arg.is_positional() {
        parts.push(italic(value));
        return parts;
    }
    let flag = match (arg.get_short(), arg.get_long()) {
        (Some(s), Some(l)) => format!("-{s}, --{l}"),
        (None, Some(l)) => format!("--{l}"),
        (Some(s), None) => format!("-{s}"),
        (None, None) => return parts,
    };
    parts.push(bold(flag));
    if arg.get_action().takes_values() {
        parts.push(roman(" "));
        parts.push(italic(value));
    }
    parts
}

fn definitions(roff: &mut Roff, title: &str, items: &[(&str, &str)]) {
    roff.control("SH", [title]);
    for (term, text) in items {
        roff.control("TP", []);
        roff.text([bold(*term)]);
        roff.text([roman(*text)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A variable the page describes is one the program reads: a renamed or dropped variable
    /// fails here rather than stay on the page.
    #[test]
    fn every_described_variable_is_read() {
        for (term, _) in ENVIRONMENT {
            for name in term.split(", ").filter(|n| *n != "...") {
                assert!(
                    crate::util::settings::NAMES.contains(&name),
                    "the man page describes {name}, which settings::NAMES does not list"
                );
            }
        }
    }

    #[test]
    fn the_page_names_every_variable_read() {
        let mut page = Vec::new();
        render(&mut page).unwrap();
        let page = String::from_utf8(page).unwrap();
        let environment = page
            .split(".SH ENVIRONMENT")
            .nth(1)
            .and_then(|rest| rest.split(".SH FILES").next())
            .unwrap();
        for name in crate::util::settings::NAMES {
            // roff escapes nothing in these names but `-`, which none has.
            assert!(environment.contains(name), "{name} is not on the man page");
        }
    }
}
