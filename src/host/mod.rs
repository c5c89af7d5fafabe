//! Registry hosts: the ECR host rules ([`registry`]), the registry config file ([`config`]) and
//! the rules for names such as role ARNs ([`names`]).
//! Uses only [`crate::util`].

pub(crate) mod config;
pub(crate) mod names;
pub(crate) mod registry;
