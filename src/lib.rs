//! ecr-login: Amazon ECR credentials for Docker, podman/skopeo and the kubelet.
//!
//! The data path is the same for every front end:
//! input ([`docker`], [`kubelet`]) -> host ([`registry`], [`resolve`]) -> credential source
//! ([`credentials`], [`aws_files`], [`key`]) -> cache decision ([`cache`], [`policy`],
//! [`attempt`]) -> fetch ([`fetch`]) -> answer. [`token`] strings the middle together. A cache
//! hit touches only the first four and never starts the async runtime or loads the AWS SDK
//! configuration; a token due for refresh is refreshed by a detached process ([`refresh`]).
//!
//! The documentation is for maintainers (`cargo doc --document-private-items`): it links to
//! the private modules it describes.
#![allow(rustdoc::private_intra_doc_links)]

pub(crate) mod attempt;
pub(crate) mod aws_files;
pub mod cache;
pub(crate) mod cause;
pub mod cli;
pub(crate) mod client_config;
pub(crate) mod config;
pub(crate) mod configure;
pub(crate) mod credentials;
pub(crate) mod docker;
pub(crate) mod doctor;
pub(crate) mod error;
pub(crate) mod fetch;
pub(crate) mod files;
pub(crate) mod input;
pub(crate) mod key;
pub(crate) mod kubelet;
pub(crate) mod log;
pub(crate) mod login_password;
pub(crate) mod man;
pub(crate) mod memo;
pub(crate) mod pod_role;
pub(crate) mod policy;
pub mod process;
pub(crate) mod redact;
pub(crate) mod refresh;
pub mod registry;
pub(crate) mod resolve;
pub mod secret;
pub(crate) mod settings;
pub(crate) mod source;
pub(crate) mod token;
pub(crate) mod web_identity;

/// The failure-memory decisions and the kubelet's retry schedule, for the fleet simulation
/// (`benches/fleet.rs`), which must run the real code, not a model of it. Not an API.
#[doc(hidden)]
pub mod for_benches {
    pub use crate::fetch::CALLER_RETRY_ATTEMPTS;
    pub use crate::policy::{
        Backoff, Decision, Failure, FailureKind, Lifetime, NO_TOKEN_BACKOFF, THROTTLED_BACKOFF,
        decide, jitter,
    };
    pub use crate::token::{MIN_TRY, next_try, next_try_with, record_reserve};
}
