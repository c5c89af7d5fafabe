//! What an attempt to get a token used beyond its cache key: what a remembered failure is kept
//! under, so that it holds back exactly the callers who would fail the same way and nobody who
//! has fixed the problem.
//!
//! The cache key names an identity without its secrets (a key id, not the secret key), and
//! the shared files by their state (an edit of either is a new key already), but not the state
//! that credential tools keep on the side (SSO and `aws login` token caches,
//! web identity token files). Those are what a user changes to fix a refused call: a corrected
//! secret, `aws sso login`, a new token. They are hashed here, only when a failure is recorded
//! or consulted, never on a cache hit.

use crate::aws::credentials::CredentialSource;
use crate::cache::key::KeyHasher;
use crate::engine::context::Context;
use crate::util::files::{self, Trust};
use std::path::{Path, PathBuf};

/// Environment values that the key leaves out (secrets) or that only credential tools read.
const SECRET_VARS: &[&str] = &[
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SECRET_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LOGIN_CACHE_DIRECTORY",
];

/// A token file or a cache directory listing is small; these bounds only keep a hostile path
/// from costing much.
const MAX_TOKEN_FILE: u64 = 64 * 1024;
const MAX_DIR_ENTRIES: usize = 1024;
/// The `source_profile` chains the SDK follows are short; a cycle ends here.
const MAX_CHAIN: usize = 32;

/// A hash of the inputs an attempt for `source` uses beyond its cache key.
pub(crate) fn inputs(cx: &Context, source: &CredentialSource) -> String {
    let mut hash = KeyHasher::new();
    for name in SECRET_VARS {
        if let Some(value) = cx.settings.get(name) {
            hash.feed(name, value);
        }
    }
    for path in token_files(cx, source) {
        feed_file(&mut hash, &path);
    }
    for dir in token_cache_dirs(cx) {
        feed_dir(&mut hash, &dir);
    }
    hash.finish()
}

/// Whether the selected profile's chain runs a `credential_process`: its credentials can
/// change (the user logs in again) with nothing we can see changing.
pub(crate) fn is_opaque(cx: &Context, source: &CredentialSource) -> bool {
    chain(cx, source)
        .iter()
        .any(|profile| cx.files.setting(profile, "credential_process").is_some())
}

/// The web identity token files the call may read: the environment's, and any a profile of
/// the chain names.
fn token_files(cx: &Context, source: &CredentialSource) -> Vec<PathBuf> {
    let from_env = cx
        .settings
        .nonempty("AWS_WEB_IDENTITY_TOKEN_FILE")
        .map(PathBuf::from);
    let from_profiles = chain(cx, source).into_iter().filter_map(|profile| {
        cx.files
            .setting(&profile, "web_identity_token_file")
            .map(|p| cx.settings.expand_home(p))
    });
    from_env.into_iter().chain(from_profiles).collect()
}

/// Where `aws sso login` and `aws login` leave their tokens.
fn token_cache_dirs(cx: &Context) -> Vec<PathBuf> {
    let home = cx.settings.home();
    let sso = home.map(|h| h.join(".aws/sso/cache"));
    let login = match cx.settings.nonempty("AWS_LOGIN_CACHE_DIRECTORY") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => home.map(|h| h.join(".aws/login/cache")),
    };
    sso.into_iter().chain(login).collect()
}

/// The selected profile and its `source_profile` chain.
fn chain(cx: &Context, source: &CredentialSource) -> Vec<String> {
    let (mut next, _) = source.profile(&cx.settings);
    let mut seen: Vec<String> = Vec::new();
    while seen.len() < MAX_CHAIN && !seen.contains(&next) {
        let parent = cx
            .files
            .setting(&next, "source_profile")
            .map(str::to_string);
        seen.push(next);
        match parent {
            Some(p) => next = p,
            None => break,
        }
    }
    seen
}

fn feed_file(hash: &mut KeyHasher, path: &Path) {
    hash.feed("token-file", &path.display().to_string());
    match files::read(path, MAX_TOKEN_FILE, Trust::Any) {
        Ok(Some(bytes)) => hash.feed_bytes("contents", &bytes),
        Ok(None) => hash.feed("missing", ""),
        Err(e) => hash.feed("unreadable", &e.to_string()),
    }
}

/// A directory by the names, sizes and times of its entries: a login writes or replaces a
/// file there, which changes one of them, without our reading any token.
fn feed_dir(hash: &mut KeyHasher, dir: &Path) {
    hash.feed("dir", &dir.display().to_string());
    let Ok(entries) = std::fs::read_dir(dir) else {
        hash.feed("dir-missing", "");
        return;
    };
    let mut seen: Vec<String> = entries
        .flatten()
        .take(MAX_DIR_ENTRIES)
        .filter_map(|entry| {
            let meta = entry.metadata().ok()?;
            Some(format!(
                "{}:{}",
                entry.file_name().to_string_lossy(),
                files::FileState::of(&meta)
            ))
        })
        .collect();
    seen.sort();
    for entry in &seen {
        hash.feed("entry", entry);
    }
}
