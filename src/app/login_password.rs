//! `get-login-password`: the registry password alone, for tools that take a password instead
//! of running a helper (`docker login --password-stdin`, `helm registry login`, `skopeo
//! login`, CI secrets). The same flags as `aws ecr get-login-password` and `aws ecr-public
//! get-login-password`, but served from the cache with the helper's identity rules: a hit costs
//! no Python start and no API call.

use crate::app::exit::Exit;
use crate::aws::error::Error;
use crate::engine::context::Context;
use crate::engine::token;
use crate::host::registry::{self, EcrHost};
use crate::util::settings::Settings;
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::io::Write;

pub(crate) fn command() -> Command {
    Command::new("get-login-password")
        .about("Print the password for an ECR registry, as `aws ecr get-login-password` does (from the cache)")
        .long_about(
            "Prints the 12-hour registry password on stdout, for tools that take a password: \
             `docker-credential-ecr-login get-login-password --region us-west-2 | docker login \
             --username AWS --password-stdin 123456789012.dkr.ecr.us-west-2.amazonaws.com`. \
             The token comes from the same cache as `get`, so a second call makes no AWS call.",
        )
        .arg(
            Arg::new("region")
                .long("region")
                .value_name("REGION")
                .help("The region of the registry (default: AWS_REGION, AWS_DEFAULT_REGION, or the profile's region)"),
        )
        .arg(
            Arg::new("registry")
                .long("registry")
                .short('r')
                .value_name("HOST")
                .conflicts_with("public")
                .help("An ECR registry host or server URL (or an [[alias]]): its region, endpoints and registry-config identity"),
        )
        .arg(
            Arg::new("public")
                .long("public")
                .action(ArgAction::SetTrue)
                .help("The password for ECR Public (public.ecr.aws), as `aws ecr-public get-login-password`"),
        )
}

/// Why no password is printed; each renders as the one line on stderr.
#[derive(Debug, thiserror::Error)]
enum PasswordError {
    #[error(transparent)]
    Token(#[from] Error),
    #[error(
        "--region {region} does not apply to --public: ECR Public's tokens come from {} only; leave out --region",
        registry::PUBLIC_REGION
    )]
    RegionWithPublic { region: String },
    #[error(
        "{host} is in {host_region}, not {region}; leave out --region or name the registry of {region}"
    )]
    OtherRegion {
        host: String,
        host_region: String,
        region: String,
    },
    #[error("no region: pass --region, set AWS_REGION, or set a region in the AWS config")]
    NoRegion,
    #[error("{0:?} is not an AWS region name")]
    NotRegion(String),
    /// A failure in a region this version does not know, with which region was likely meant.
    #[error("{error} ({problem})")]
    UnknownRegion { error: Error, problem: String },
}

/// Runs `get-login-password`: the one place its failure is told.
pub(crate) fn run(settings: Settings, matches: &ArgMatches) -> Exit {
    match password(settings, matches) {
        Ok(password) => {
            let mut out = crate::app::process::stdout();
            let _ = writeln!(out, "{password}");
            crate::app::process::finish(out, Exit::Ok)
        }
        Err(e) => {
            crate::util::log::print(crate::util::log::Level::Error, format_args!("{e}"));
            Exit::Failed
        }
    }
}

fn password(settings: Settings, matches: &ArgMatches) -> Result<String, PasswordError> {
    let region = matches
        .get_one::<String>("region")
        .map(|r| r.trim().to_string());
    let (host, source) = if matches.get_flag("public") {
        // ECR Public issues tokens in one region: another would be silently ignored.
        if let Some(r) = region.as_ref().filter(|r| *r != registry::PUBLIC_REGION) {
            return Err(PasswordError::RegionWithPublic { region: r.clone() });
        }
        crate::engine::resolve::resolve(&settings, registry::PUBLIC_HOST)?
    } else if let Some(input) = matches.get_one::<String>("registry") {
        let (host, source) = crate::engine::resolve::resolve(&settings, input)?;
        let host_region = host.token_scope().region;
        if let Some(r) = region.as_ref().filter(|r| **r != host_region) {
            return Err(PasswordError::OtherRegion {
                host: host.host,
                host_region,
                region: r.clone(),
            });
        }
        (host, source)
    } else {
        let cx = Context::load(settings.clone())?;
        let region = region
            .or_else(|| crate::engine::context::default_region(&cx))
            .ok_or(PasswordError::NoRegion)?;
        let host = EcrHost::for_region(&settings, &region)
            .ok_or_else(|| PasswordError::NotRegion(region.clone()))?;
        (
            host,
            crate::aws::credentials::CredentialSource::default_chain(),
        )
    };
    let cx = Context::load(settings)?;
    let token = token::token_for(&cx, &host, &source).map_err(|e| with_region_hint(e, &host))?;
    if token.refresh_due {
        // The same scope and identity as a `get` of the host (which is how the refresh runs).
        crate::app::refresh::start("get", host.host.as_bytes());
    }
    Ok(token.password.expose().to_string())
}

/// A failure in a region this version does not know is most often a typo (a new region is
/// accepted, so the call was made): the error then says which region was meant.
fn with_region_hint(error: Error, host: &EcrHost) -> PasswordError {
    match &host.registry {
        registry::Registry::Private(p) => match registry::unknown_region(&p.region) {
            Some(problem) => PasswordError::UnknownRegion { error, problem },
            None => error.into(),
        },
        registry::Registry::Public { .. } => error.into(),
    }
}
