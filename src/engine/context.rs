//! The call's context: what one call reads from outside, once, before the data path runs.

use crate::aws::aws_files::AwsFiles;
use crate::aws::credentials::CredentialSource;
use crate::aws::error::Error;
use crate::cache::Cache;
use crate::host::registry::TokenScope;
use crate::util::log::warning;
use crate::util::settings::Settings;

/// Everything one call reads from outside, read once: the environment, the AWS shared files,
/// and the cache they lead to.
#[derive(Debug)]
pub(crate) struct Context {
    pub settings: Settings,
    pub files: AwsFiles,
    pub cache: Cache,
}

impl Context {
    /// The shared files are found and opened here, and read only when something needs their
    /// contents: the key's material comes from the memo in the cache directory when it can.
    pub(crate) fn load(settings: Settings) -> Result<Context, Error> {
        let mut cache = Cache::from_settings(&settings);
        let files = AwsFiles::open(&settings, cache.dir()).map_err(Error::AwsFile)?;
        if files.too_large_to_key {
            warning!(
                "an AWS config file is larger than {} MiB; working without the cache for this call",
                crate::aws::aws_files::MAX_KEYED >> 20
            );
            cache = Cache::disabled();
        }
        Ok(Context {
            settings,
            files,
            cache,
        })
    }

    /// The cache key for `scope` under `source`.
    pub(crate) fn cache_key(&self, scope: &TokenScope, source: &CredentialSource) -> String {
        format!("{}/{}", self.identity_key(source), scope.key())
    }

    /// The identity part of cache keys, with its trailing separator: one identity's entries.
    pub(crate) fn identity_key(&self, source: &CredentialSource) -> String {
        source.identity_key(&self.settings, &self.files)
    }
}

/// `AWS_REGION`, `AWS_DEFAULT_REGION`, else the selected profile's `region`, as the SDKs read
/// them. No instance metadata: the region is part of the cache key, and a cache hit must not
/// cost a network call.
pub(crate) fn default_region(cx: &Context) -> Option<String> {
    let settings = &cx.settings;
    let from_profile = || {
        let (profile, _) = crate::aws::aws_files::selected_profile(settings);
        cx.files.setting(&profile, "region")
    };
    settings
        .nonempty("AWS_REGION")
        .or_else(|| settings.nonempty("AWS_DEFAULT_REGION"))
        .or_else(from_profile)
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty())
}
