//! The token cache: the record store ([`store`], re-exported here) with its records
//! ([`record`]), locks ([`lock`]) and sweep ([`sweep`]), the decision to use, refresh or fetch
//! ([`policy`]), and the hashing of cache keys ([`key`]). Uses [`crate::host`] and
//! [`crate::util`].

pub(crate) mod key;
pub(crate) mod lock;
pub(crate) mod policy;
pub(crate) mod record;
pub(crate) mod store;
pub(crate) mod sweep;

pub(crate) use store::*;
