//! The data path's middle, the same for every front end: resolve a server URL to a host and a
//! credential source ([`resolve`]), then [`token`] decides from the cache and fetches when it
//! must; [`source`], [`cause`] and [`attempt`] describe, explain and remember what it tried.
//! Uses the layers below it: [`crate::aws`], [`crate::cache`], [`crate::host`], [`crate::util`].

pub(crate) mod attempt;
pub(crate) mod cause;
pub(crate) mod context;
pub(crate) mod resolve;
pub(crate) mod source;
pub(crate) mod token;
