//! The front ends and the user's commands: the Docker protocol ([`docker`]), the kubelet's
//! ([`kubelet`], [`pod_role`]), `get-login-password`, `configure`, `doctor`, the man page, and the
//! process around them ([`cli`], [`process`], [`refresh`]). The top layer: it may use every other.

pub(crate) mod cli;
pub(crate) mod client_config;
pub(crate) mod command;
pub(crate) mod configure;
pub(crate) mod docker;
pub(crate) mod doctor;
pub(crate) mod exit;
pub(crate) mod kubelet;
pub(crate) mod kubelet_api;
pub(crate) mod login_password;
pub(crate) mod man;
pub(crate) mod pod_role;
pub(crate) mod process;
pub(crate) mod program;
pub(crate) mod refresh;
