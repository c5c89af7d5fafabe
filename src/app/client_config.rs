//! The model of the clients' config files that `configure` edits and `doctor` reads: where
//! Docker, podman and Helm keep them, how to read one, and how one routes a registry.

use crate::util::files::{self, FileError, Trust};
use crate::util::settings::Settings;
use serde_json::{Map, Value};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The name clients derive the helper's binary from (`docker-credential-<name>`).
pub(crate) const HELPER: &str = "ecr-login";
/// Largest client config we will edit; real ones are a few KiB.
const MAX_FILE_SIZE: u64 = 16 << 20;

/// Which client's file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Client {
    Docker,
    Podman,
    Helm,
}

impl Client {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Client::Docker => "docker",
            Client::Podman => "podman",
            Client::Helm => "helm",
        }
    }
}

/// A client's config file, and which rule chose it (to tell the user).
#[derive(Debug, Clone)]
pub(crate) struct Location {
    pub client: Client,
    pub path: PathBuf,
    pub why: String,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigureError {
    #[error("cannot find {0}: {1}")]
    NoPath(&'static str, &'static str),
    #[error(transparent)]
    File(#[from] FileError),
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not valid JSON: {source}; it was left alone", path.display())]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{} {problem}; it was left alone", path.display())]
    Shape {
        path: PathBuf,
        problem: &'static str,
    },
    #[error(
        "{}: {host} is routed to the helper {helper:?}; pass --force to replace it",
        .path.display()
    )]
    OtherHelper {
        path: PathBuf,
        host: String,
        helper: String,
    },
    #[error("{0}")]
    Registry(String),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn env_path(settings: &Settings, name: &str) -> Option<PathBuf> {
    settings.nonempty(name).map(PathBuf::from)
}

/// Where `client` keeps the file we edit.
pub(crate) fn location(settings: &Settings, client: Client) -> Result<Location, ConfigureError> {
    let home = || settings.home().map(Path::to_path_buf);
    let loc = |path: PathBuf, why: &str| Location {
        client,
        path,
        why: why.to_string(),
    };
    match client {
        Client::Docker => {
            if let Some(dir) = env_path(settings, "DOCKER_CONFIG") {
                return Ok(loc(dir.join("config.json"), "$DOCKER_CONFIG/config.json"));
            }
            home()
                .map(|h| loc(h.join(".docker/config.json"), "~/.docker/config.json"))
                .ok_or(ConfigureError::NoPath(
                    "Docker's config",
                    "set DOCKER_CONFIG or HOME",
                ))
        }
        Client::Podman => {
            if let Some(file) = env_path(settings, "REGISTRY_AUTH_FILE") {
                return Ok(loc(file, "REGISTRY_AUTH_FILE names this file"));
            }
            let why = "podman's default auth file, as REGISTRY_AUTH_FILE is not set; it lives in the runtime directory, which is emptied at logout and reboot: set REGISTRY_AUTH_FILE, or rely on podman also reading Docker's config.json";
            if let Some(dir) = env_path(settings, "XDG_RUNTIME_DIR") {
                return Ok(loc(dir.join("containers/auth.json"), why));
            }
            // SAFETY: getuid has no preconditions and cannot fail.
            let uid = unsafe { libc::getuid() };
            Ok(loc(
                PathBuf::from(format!("/run/containers/{uid}/auth.json")),
                why,
            ))
        }
        Client::Helm => {
            if let Some(file) = env_path(settings, "HELM_REGISTRY_CONFIG") {
                return Ok(loc(file, "$HELM_REGISTRY_CONFIG"));
            }
            if let Some(dir) = env_path(settings, "XDG_CONFIG_HOME") {
                return Ok(loc(
                    dir.join("helm/registry/config.json"),
                    "$XDG_CONFIG_HOME/helm/registry/config.json",
                ));
            }
            home()
                .map(|h| {
                    loc(
                        h.join(".config/helm/registry/config.json"),
                        "~/.config/helm/registry/config.json",
                    )
                })
                .ok_or(ConfigureError::NoPath(
                    "Helm's registry config",
                    "set HELM_REGISTRY_CONFIG or HOME",
                ))
        }
    }
}

/// A client config as read: the document, the file's mode and its text.
#[derive(Debug, Clone)]
pub(crate) struct ClientFile {
    pub doc: Map<String, Value>,
    pub mode: u32,
    /// Owner and group, kept when root edits a user's file (`sudo` with the user's HOME).
    pub owner: (u32, u32),
    pub text: String,
}

/// Reads a client config: `None` when absent; an empty file is an empty object.
pub(crate) fn read_json_file(path: &Path) -> Result<Option<ClientFile>, ConfigureError> {
    let Some(bytes) = files::read(path, MAX_FILE_SIZE, Trust::Any)? else {
        return Ok(None);
    };
    // The mode and owner to keep on rewrite; the file was just read, so it is there.
    let meta = std::fs::metadata(path).map_err(|e| ConfigureError::Read {
        path: path.to_path_buf(),
        source: e,
    })?;
    let text = String::from_utf8(bytes).map_err(|_| ConfigureError::Shape {
        path: path.to_path_buf(),
        problem: "is not UTF-8",
    })?;
    let doc = if text.trim().is_empty() {
        Map::new()
    } else {
        match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(map)) => map,
            Ok(_) => {
                return Err(ConfigureError::Shape {
                    path: path.to_path_buf(),
                    problem: "does not hold a JSON object",
                });
            }
            Err(e) => {
                return Err(ConfigureError::Parse {
                    path: path.to_path_buf(),
                    source: e,
                });
            }
        }
    };
    Ok(Some(ClientFile {
        doc,
        mode: meta.mode() & 0o7777,
        owner: (meta.uid(), meta.gid()),
        text,
    }))
}

/// The first executable called `name` on `PATH`.
pub(crate) fn find_on_path(settings: &Settings, name: &str) -> Option<PathBuf> {
    let path = settings.nonempty("PATH")?;
    std::env::split_paths(path)
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// What `PATH` finds under the helper's name, compared with the running binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HelperOnPath {
    /// Nothing: the clients cannot run the helper.
    Missing,
    /// This binary (or one we cannot compare with, when our own path is unknown).
    This(PathBuf),
    /// Another binary, which the clients run instead of this one.
    Other { found: PathBuf, this: PathBuf },
}

/// Which `docker-credential-ecr-login` the clients would run: `configure` warns and `doctor`
/// checks with the same rule.
pub(crate) fn helper_on_path(settings: &Settings) -> HelperOnPath {
    let Some(found) = find_on_path(settings, &format!("docker-credential-{HELPER}")) else {
        return HelperOnPath::Missing;
    };
    let this = std::env::current_exe()
        .ok()
        .and_then(|p| std::fs::canonicalize(p).ok());
    match this {
        Some(this) if std::fs::canonicalize(&found).ok().as_ref() != Some(&this) => {
            HelperOnPath::Other { found, this }
        }
        _ => HelperOnPath::This(found),
    }
}

/// How a client config routes `host`: `Some(helper)` from `credHelpers`, else `credsStore`.
pub(crate) fn route(doc: &Map<String, Value>, host: &str) -> Route {
    if let Some(Value::String(h)) = doc
        .get("credHelpers")
        .and_then(|c| c.as_object())
        .and_then(|c| c.get(host))
    {
        return Route::CredHelper(h.clone());
    }
    if doc
        .get("auths")
        .and_then(|a| a.as_object())
        .is_some_and(|a| a.keys().any(|k| auth_key_host(k) == host))
    {
        return Route::Auths;
    }
    match doc.get("credsStore") {
        Some(Value::String(s)) if !s.is_empty() => Route::CredsStore(s.clone()),
        _ => Route::None,
    }
}

/// How one client config routes one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    CredHelper(String),
    /// A stored login (`auths`), which podman prefers to a later file's helper.
    Auths,
    CredsStore(String),
    None,
}

/// `https://host/v1/` and `host/namespace` keys of `auths` to their host.
fn auth_key_host(key: &str) -> String {
    let k = key.split_once("://").map_or(key, |(_, rest)| rest);
    k.split('/').next().unwrap_or(k).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn routes() {
        let doc = obj(json!({
            "credsStore": "desktop",
            "credHelpers": {"a": "ecr-login"},
            "auths": {"https://b/v1/": {}}
        }));
        assert_eq!(route(&doc, "a"), Route::CredHelper("ecr-login".into()));
        assert_eq!(route(&doc, "b"), Route::Auths);
        assert_eq!(route(&doc, "c"), Route::CredsStore("desktop".into()));
        assert_eq!(route(&Map::new(), "c"), Route::None);
    }
}
