//! ecr-login: Amazon ECR credentials for Docker, podman/skopeo and the kubelet.
//!
//! The data path is the same for every front end:
//! input ([`app::docker`], [`app::kubelet`], [`app::login_password`]) -> host
//! ([`host::registry`], [`host::config`], [`engine::resolve`]) -> credential source
//! ([`aws::credentials`], [`aws::aws_files`], [`cache::key`]) -> cache decision ([`cache`],
//! [`cache::policy`], [`engine::attempt`]) -> fetch ([`aws::fetch`]) -> answer.
//! [`engine::token`] strings the middle together under one [`engine::context::Context`]. A cache
//! hit touches only the first four and never starts the async runtime or loads the AWS SDK
//! configuration; a token due for refresh is refreshed by a detached process
//! ([`app::refresh`]).
//!
//! The modules are in six layers, top to bottom; a module uses its own layer and the ones
//! below, never one above, and no two modules use each other (`tests/it/layers.rs` checks
//! both):
//! - [`app`]: the front ends and the user's commands (the Docker and kubelet protocols,
//!   `get-login-password`, `configure`, `doctor`, the man page, the process around them);
//! - [`engine`]: the call's context, resolving a server URL, the token path, describing and
//!   explaining a credential source;
//! - [`aws`]: the AWS shared files, credential resolution, the token call, STS, and the
//!   crate's failure type ([`aws::error::Error`], here because it names the failures of the
//!   layers below and every layer above returns it) with the SDK's errors mapped into it;
//! - [`cache`]: the file store, the use/refresh/fetch decision, key hashing;
//! - [`host`]: the ECR host rules, the registry config file, names such as role ARNs;
//! - [`util`]: settings, bounded file reads, input, secrets, redaction, logging.
//!
//! The documentation is for maintainers (`cargo doc --document-private-items`): it links to
//! the private modules it describes.
#![allow(rustdoc::private_intra_doc_links)]
#![warn(unreachable_pub)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod app;
mod aws;
mod cache;
mod engine;
mod host;
mod util;

/// What the binary (`src/main.rs`) calls: the C entry point's helpers and the dispatch.
pub use app::cli::run_as;
pub use app::process::{args_from_c, guard_standard_fds};

/// The parsers the property tests (`tests/it/fuzz.rs`) feed with arbitrary input: the cache
/// file and server URLs. Not an API.
#[doc(hidden)]
pub mod for_fuzz {
    /// The cache record's reader and the store that heals it.
    pub mod cache {
        pub use crate::cache::record::Entry;
        pub use crate::cache::store::{Cache, now, parse_record};
    }
    /// Server URLs to ECR hosts.
    pub mod registry {
        pub use crate::host::registry::{EcrHost, Registry, classify, parse_server_url};
    }
    pub use crate::util::secret::Secret;
}

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
