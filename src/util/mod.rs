//! The bottom layer, used by all the others and using none of them: settings from the
//! environment ([`settings`]), bounded and trusted file reads ([`files`], [`input`]), secrets and
//! redaction ([`secret`], [`redact`]), and logging ([`log`]).

pub(crate) mod files;
pub(crate) mod input;
pub(crate) mod log;
pub(crate) mod redact;
pub(crate) mod secret;
pub(crate) mod settings;
