//! ecr-login: Amazon ECR credentials for Docker, podman/skopeo and the kubelet.
//!
//! The data path is the same for every front end:
//! input ([`docker`]) -> host ([`registry`]) -> identity ([`identity`]) -> cache ([`cache`]) ->
//! fetch ([`fetch`]) -> answer. [`token`] strings the middle together. A cache hit touches only
//! the first four and never starts the async runtime or loads the AWS SDK configuration.

pub mod aws_files;
pub mod cache;
pub mod cli;
pub mod config;
pub mod configure;
pub mod credentials;
pub mod docker;
pub mod doctor;
pub mod error;
pub mod fetch;
pub mod files;
pub mod input;
pub mod key;
pub mod kubelet;
pub mod log;
pub mod login_password;
pub mod man;
pub mod pod_role;
pub mod policy;
pub mod redact;
pub mod registry;
pub mod resolve;
pub mod secret;
pub mod settings;
pub mod source;
pub mod token;
pub mod web_identity;
