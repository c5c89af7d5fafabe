//! The program's names and version: what it answers to and what it says it is.

pub(crate) const NAME: &str = "docker-credential-ecr-login";
/// The kubelet plugin's name: invoked under it, the binary speaks the provider protocol.
pub(crate) const KUBELET_NAME: &str = "ecr-credential-provider";
/// `--version` names the commit too (recorded by build.rs), so a bug report says what was built.
pub(crate) const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ECR_LOGIN_COMMIT"),
    ")"
);
