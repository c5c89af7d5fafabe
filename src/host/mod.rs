//! Registry hosts: the ECR host rules ([`registry`]) and the registry config file ([`config`]).
//! Uses only [`crate::util`].

pub(crate) mod config;
pub mod registry;
