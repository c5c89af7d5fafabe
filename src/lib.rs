//! ecr-login: Amazon ECR credentials for Docker, podman/skopeo and the kubelet.
//!
//! The data path is the same for every front end:
//! input ([`app::docker`], [`app::kubelet`]) -> host ([`host::registry`], [`engine::resolve`])
//! -> credential source ([`aws::credentials`], [`aws::aws_files`], [`cache::key`]) -> cache
//! decision ([`cache`], [`cache::policy`], [`engine::attempt`]) -> fetch ([`aws::fetch`]) ->
//! answer. [`engine::token`] strings the middle together. A cache hit touches only the first
//! four and never starts the async runtime or loads the AWS SDK configuration; a token due for
//! refresh is refreshed by a detached process ([`app::refresh`]).
//!
//! The documentation is for maintainers (`cargo doc --document-private-items`): it links to
//! the private modules it describes.
#![allow(rustdoc::private_intra_doc_links)]

pub(crate) mod app;
pub(crate) mod aws;
pub mod cache;
pub(crate) mod engine;
pub(crate) mod host;
pub(crate) mod util;

pub use app::{cli, process};
pub use host::registry;
pub use util::secret;

/// The failure-memory decisions and the kubelet's retry schedule, for the fleet simulation
/// (`benches/fleet.rs`), which must run the real code, not a model of it. Not an API.
#[doc(hidden)]
pub mod for_benches {
    pub use crate::aws::fetch::CALLER_RETRY_ATTEMPTS;
    pub use crate::cache::policy::{
        Backoff, Decision, Failure, FailureKind, Lifetime, NO_TOKEN_BACKOFF, THROTTLED_BACKOFF,
        decide, jitter,
    };
    pub use crate::engine::token::{MIN_TRY, next_try, next_try_with, record_reserve};
}
