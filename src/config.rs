//! The registry config file (`$AWS_ECR_CONFIG`, else `~/.ecr/config.toml`): per-registry
//! profiles and roles, and aliases for registries behind a custom domain.
//!
//! Stub: the operator issue fills this in. Every front end resolves a server URL through
//! [`resolve`], so the mapping applies everywhere at once.

use crate::error::Error;
use crate::registry::{self, EcrHost};
use crate::token::Request;

/// The ECR registry a server URL stands for, and the credentials to use for it.
pub fn resolve(server_url: &str) -> Result<(EcrHost, Request), Error> {
    let host = registry::parse_server_url(server_url)?;
    Ok((host, Request::default()))
}
