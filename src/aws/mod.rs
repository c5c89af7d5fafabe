//! Everything that knows the AWS SDK or the AWS shared files: reading the files ([`aws_files`],
//! [`memo`]), selecting and resolving credentials ([`credentials`], [`web_identity`]), the
//! token call ([`fetch`]), and the crate's failure type with the SDK's errors mapped into it
//! ([`error`]). Uses [`crate::cache`], [`crate::host`] and [`crate::util`].

pub(crate) mod aws_files;
pub(crate) mod credentials;
pub(crate) mod error;
pub(crate) mod fetch;
pub(crate) mod memo;
pub(crate) mod sdk_errors;
pub(crate) mod web_identity;
