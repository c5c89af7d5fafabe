//! The token cache: the file store ([`store`], re-exported here), the decision to use, refresh
//! or fetch ([`policy`]), and the hashing of cache keys ([`key`]). Uses [`crate::host`] and
//! [`crate::util`].

pub(crate) mod key;
pub(crate) mod policy;
pub(crate) mod store;

pub(crate) use store::*;
