//! `configure`: route registries to this helper in the clients' JSON config files (Docker's
//! `config.json`, the containers auth file that podman reads, Helm's registry config).
//!
//! These files belong to the user and to other tools, so an edit is surgical: only our
//! `credHelpers` entries change, every other key keeps its value and its place, a file that
//! needs no change is not touched at all (a second run changes no byte), and the write replaces
//! the file by rename so that a crash never leaves half of it. A symlinked file stays a symlink
//! (dotfile managers link these): the link's target is what gets rewritten.

use crate::app::client_config::{
    Client, ConfigureError, HELPER, HelperOnPath, Location, helper_on_path, location,
    read_json_file,
};
use crate::app::exit::Exit;
use crate::aws::error::Error;
use crate::host::config;
use crate::host::registry::HostError;
use crate::util::settings::Settings;
use clap::{Arg, ArgAction, ArgMatches, Command};
use serde_json::{Map, Value};
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// The clap definition (also used for `--help` and the man page).
pub(crate) fn command() -> Command {
    Command::new("configure")
        .about("Route registries to this helper in Docker's, podman's or Helm's config")
        .long_about(
            "Writes credHelpers entries (\"HOST\": \"ecr-login\") into Docker's config.json \
             ($DOCKER_CONFIG/config.json, else ~/.docker/config.json), keeping every other key \
             and entry, the file's mode (0600 for a new file) and a symlink's target. Running it \
             again changes nothing. An entry naming another helper is kept unless --force.",
        )
        .arg(
            Arg::new("registry")
                .short('r')
                .long("registry")
                .value_name("HOST")
                .action(ArgAction::Append)
                .help("A registry host: an ECR registry or an [[alias]] from the registry config (repeatable)"),
        )
        .arg(
            Arg::new("public")
                .long("public")
                .action(ArgAction::SetTrue)
                .help("Also route public.ecr.aws (ECR Public)"),
        )
        .arg(
            Arg::new("docker")
                .long("docker")
                .action(ArgAction::SetTrue)
                .help("Write Docker's config.json (the default; give it with --podman or --helm to write it too)"),
        )
        .arg(
            Arg::new("podman")
                .long("podman")
                .action(ArgAction::SetTrue)
                .help("Write the containers auth file that podman, skopeo and buildah read ($REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json)"),
        )
        .arg(
            Arg::new("helm")
                .long("helm")
                .action(ArgAction::SetTrue)
                .help("Write Helm's registry config ($HELM_REGISTRY_CONFIG, else $XDG_CONFIG_HOME/helm/registry/config.json)"),
        )
        .arg(
            Arg::new("remove")
                .long("remove")
                .action(ArgAction::SetTrue)
                .help("Take the entries out instead"),
        )
        .arg(
            Arg::new("force")
                .long("force")
                .action(ArgAction::SetTrue)
                .help("Replace (or remove) an entry that names another helper"),
        )
        .arg(
            Arg::new("dry-run")
                .long("dry-run")
                .action(ArgAction::SetTrue)
                .help("Show the change without writing anything"),
        )
        .arg(
            Arg::new("allow-unknown-region")
                .long("allow-unknown-region")
                .action(ArgAction::SetTrue)
                .help("Accept a registry whose region this version does not know (a region newer than it); without it, such a host is taken for a typo"),
        )
}

/// What one run asks for.
#[derive(Debug, Clone, Default)]
pub(crate) struct Options {
    pub hosts: Vec<String>,
    pub remove: bool,
    pub force: bool,
    pub dry_run: bool,
}

/// One change to a file's `credHelpers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    Add(String),
    Replace { host: String, old: String },
    Remove(String),
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::Add(h) => write!(f, "+ credHelpers[{h:?}] = {HELPER:?}"),
            Change::Replace { host, old } => {
                write!(f, "~ credHelpers[{host:?}] = {HELPER:?} (was {old:?})")
            }
            Change::Remove(h) => write!(f, "- credHelpers[{h:?}]"),
        }
    }
}

/// Runs `configure`: the one place its failure is told.
pub(crate) fn run(settings: &Settings, matches: &ArgMatches) -> Exit {
    let mut stdout = crate::app::process::stdout();
    let exit = match run_inner(settings, matches, &mut stdout) {
        Ok(()) => Exit::Ok,
        Err(e) => {
            crate::util::log::print(crate::util::log::Level::Error, format_args!("{e}"));
            Exit::Failed
        }
    };
    crate::app::process::finish(stdout, exit)
}

fn run_inner(
    settings: &Settings,
    matches: &ArgMatches,
    out: &mut dyn Write,
) -> Result<(), ConfigureError> {
    let mut inputs: Vec<String> = matches
        .get_many::<String>("registry")
        .map(|v| v.cloned().collect())
        .unwrap_or_default();
    if matches.get_flag("public") {
        inputs.push(crate::host::registry::PUBLIC_HOST.to_string());
    }
    if inputs.is_empty() {
        return Err(ConfigureError::Registry(
            "name at least one registry with --registry HOST, or --public".into(),
        ));
    }
    let remove = matches.get_flag("remove");
    let check = match (remove, matches.get_flag("allow-unknown-region")) {
        (true, _) => HostCheck::Removing,
        (false, false) => HostCheck::Adding,
        (false, true) => HostCheck::AddingAnyRegion,
    };
    let mut hosts = Vec::new();
    for input in &inputs {
        let host = registry_key(settings, input, check)?;
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    }
    let options = Options {
        hosts,
        remove,
        force: matches.get_flag("force"),
        dry_run: matches.get_flag("dry-run"),
    };
    let mut clients = Vec::new();
    for (flag, client) in [
        ("docker", Client::Docker),
        ("podman", Client::Podman),
        ("helm", Client::Helm),
    ] {
        if matches.get_flag(flag) {
            clients.push(client);
        }
    }
    if clients.is_empty() {
        clients.push(Client::Docker);
    }
    // Every file is checked before any is written: a refusal leaves all of them as they were.
    let mut plans = Vec::new();
    for client in clients {
        let location = location(settings, client)?;
        plans.push(plan_file(&location, &options)?);
    }
    for (location, plan) in &plans {
        report(out, location, plan, options.dry_run);
        if !options.dry_run && !plan.changes.is_empty() {
            write_atomically(&plan.write_path, &plan.bytes, plan.mode, plan.owner)?;
        }
    }
    if !options.remove {
        warn_about_path(settings);
    }
    Ok(())
}

/// The clients run the helper by its name on `PATH`: nothing there, or another binary there
/// first, and the entries just written route to nothing or to something else.
fn warn_about_path(settings: &Settings) {
    match helper_on_path(settings) {
        HelperOnPath::This(_) => {}
        HelperOnPath::Missing => crate::util::log::print(
            crate::util::log::Level::Warn,
            format_args!(
                "docker-credential-{HELPER} is not on PATH; the clients run it by that name, so put it there (e.g. `cargo install` or a link in /usr/local/bin)"
            ),
        ),
        HelperOnPath::Other { found, this } => crate::util::log::print(
            crate::util::log::Level::Warn,
            format_args!(
                "PATH finds {}, which is not this binary ({}): the clients run that one; put this binary first on PATH, or remove the other one",
                found.display(),
                this.display()
            ),
        ),
    }
}

fn report(out: &mut dyn Write, location: &Location, plan: &Plan, dry_run: bool) {
    let path = location.path.display();
    let target = if plan.write_path != location.path {
        format!(" (a symlink to {})", plan.write_path.display())
    } else {
        String::new()
    };
    if plan.changes.is_empty() {
        let _ = writeln!(
            out,
            "{}: {path}{target} is up to date",
            location.client.name()
        );
    } else {
        let verb = if dry_run { "would change" } else { "changed" };
        let _ = writeln!(out, "{}: {verb} {path}{target}:", location.client.name());
        for change in &plan.changes {
            let _ = writeln!(out, "  {change}");
        }
    }
    if location.client == Client::Podman {
        let _ = writeln!(out, "  ({})", location.why);
    }
}

/// How strictly a `--registry` value is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HostCheck {
    /// Adding an entry: a typo'd region is a registry that never answers, so a region this
    /// version does not know is refused.
    Adding,
    /// Adding with `--allow-unknown-region`: a region newer than this program is the user's
    /// to vouch for.
    AddingAnyRegion,
    /// Taking an entry out, harmless either way: any host a client could name will do, and
    /// no registry config is needed.
    Removing,
}

/// The `credHelpers` key for a user's `--registry` value: the host as clients send it.
fn registry_key(
    settings: &Settings,
    input: &str,
    check: HostCheck,
) -> Result<String, ConfigureError> {
    match crate::engine::resolve::resolve(settings, input) {
        Ok((host, _)) => {
            if let crate::host::registry::Registry::Private(p) = &host.registry
                && check == HostCheck::Adding
                && let Some(problem) = crate::host::registry::unknown_region(&p.region)
            {
                return Err(ConfigureError::Registry(format!(
                    "{}: {problem}; if it is a region newer than this program, pass --allow-unknown-region",
                    host.host
                )));
            }
            Ok(host.host)
        }
        Err(Error::Host(HostError::NotEcr(host))) if check == HostCheck::Removing => Ok(host),
        // A host that looks meant for ECR gets its wrong part named; any other, the way to
        // route a custom domain.
        Err(Error::Host(e @ HostError::NotEcr(_))) if e.diagnosis().is_some() => {
            Err(ConfigureError::Registry(e.to_string()))
        }
        Err(Error::Host(HostError::NotEcr(host))) => Err(ConfigureError::Registry(format!(
            "{host} is not an Amazon ECR registry; for a custom domain, add an [[alias]] to the registry config ({})",
            config::path(settings)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "$AWS_ECR_CONFIG".into())
        ))),
        Err(e) => Err(ConfigureError::Registry(format!("{input:?}: {e}"))),
    }
}

/// A file's new content, ready to write.
#[derive(Debug)]
pub(crate) struct Plan {
    pub changes: Vec<Change>,
    /// The file the bytes go to: the symlink's final target, or the path itself.
    pub write_path: PathBuf,
    pub bytes: Vec<u8>,
    pub mode: u32,
    pub owner: Option<(u32, u32)>,
}

fn plan_file(location: &Location, options: &Options) -> Result<(Location, Plan), ConfigureError> {
    let write_path = resolve_symlinks(&location.path).map_err(|e| ConfigureError::Read {
        path: location.path.clone(),
        source: e,
    })?;
    let existing = read_json_file(&write_path)?;
    let (mut doc, mode, owner, original) = match existing {
        Some(f) => (f.doc, f.mode, Some(f.owner), Some(f.text)),
        None => (Map::new(), 0o600, None, None),
    };
    let changes = apply(&mut doc, options).map_err(|e| e.with_path(&location.path))?;
    let bytes = serialize(&doc, original.as_deref());
    Ok((
        location.clone(),
        Plan {
            changes,
            write_path,
            bytes,
            mode,
            owner,
        },
    ))
}

/// Problems found in a document before we know its path.
#[derive(Debug)]
pub(crate) enum ApplyError {
    NotObject,
    OtherHelper { host: String, helper: String },
}

impl ApplyError {
    fn with_path(self, path: &Path) -> ConfigureError {
        match self {
            ApplyError::NotObject => ConfigureError::Shape {
                path: path.to_path_buf(),
                problem: "has a \"credHelpers\" that is not an object",
            },
            ApplyError::OtherHelper { host, helper } => ConfigureError::OtherHelper {
                path: path.to_path_buf(),
                host,
                helper,
            },
        }
    }
}

/// Edits `doc`'s `credHelpers` as `options` ask, and says what changed. All or nothing: a
/// refusal leaves `doc` as it was.
pub(crate) fn apply(
    doc: &mut Map<String, Value>,
    options: &Options,
) -> Result<Vec<Change>, ApplyError> {
    let empty = Map::new();
    let helpers = match doc.get("credHelpers") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(m)) => m,
        Some(_) => return Err(ApplyError::NotObject),
    };
    let mut changes = Vec::new();
    for host in &options.hosts {
        let current = helpers.get(host);
        let theirs = match current {
            Some(Value::String(h)) if h == HELPER => None,
            Some(Value::String(h)) => Some(h.clone()),
            Some(other) => Some(other.to_string()),
            None => {
                if !options.remove {
                    changes.push(Change::Add(host.clone()));
                }
                continue;
            }
        };
        match theirs {
            Some(helper) if !options.force => {
                return Err(ApplyError::OtherHelper {
                    host: host.clone(),
                    helper,
                });
            }
            Some(old) if !options.remove => changes.push(Change::Replace {
                host: host.clone(),
                old,
            }),
            _ if options.remove => changes.push(Change::Remove(host.clone())),
            _ => {}
        }
    }
    if changes.is_empty() {
        return Ok(changes);
    }
    let helpers = doc
        .entry("credHelpers")
        .or_insert_with(|| Value::Object(Map::new()));
    if helpers.is_null() {
        *helpers = Value::Object(Map::new());
    }
    let Value::Object(helpers) = helpers else {
        return Err(ApplyError::NotObject);
    };
    for change in &changes {
        match change {
            Change::Add(h) | Change::Replace { host: h, .. } => {
                helpers.insert(h.clone(), Value::String(HELPER.into()));
            }
            Change::Remove(h) => {
                helpers.shift_remove(h);
            }
        }
    }
    if helpers.is_empty() {
        doc.shift_remove("credHelpers");
    }
    Ok(changes)
}

/// Pretty JSON in the file's own indentation (Docker writes tabs), with its trailing newline
/// or lack of one.
fn serialize(doc: &Map<String, Value>, original: Option<&str>) -> Vec<u8> {
    use serde::Serialize;
    let indent = original
        .and_then(|t| {
            t.lines().skip(1).find_map(|l| {
                let ws: String = l.chars().take_while(|c| *c == ' ' || *c == '\t').collect();
                (!ws.is_empty()).then_some(ws)
            })
        })
        .unwrap_or_else(|| "\t".to_string());
    let mut bytes = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(indent.as_bytes());
    let mut ser = serde_json::Serializer::with_formatter(&mut bytes, formatter);
    // Serializing a map of JSON values into a Vec cannot fail.
    let _ = doc.serialize(&mut ser);
    if original.is_none_or(|t| t.ends_with('\n')) {
        bytes.push(b'\n');
    }
    bytes
}

/// Follows symlinks to the file they name, even when that file does not exist yet.
fn resolve_symlinks(path: &Path) -> std::io::Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = std::fs::read_link(&current)?;
                current = match current.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            _ => return Ok(current),
        }
    }
    Err(std::io::Error::other("too many levels of symbolic links"))
}

/// Creates the directory (0700) if needed, then replaces the file (see [`crate::util::files::replace`]).
fn write_atomically(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<(), ConfigureError> {
    let err = |source| ConfigureError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path
        .parent()
        .filter(|d| !d.exists() && !d.as_os_str().is_empty())
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(err)?;
    }
    crate::util::files::replace(path, bytes, mode, owner).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn opts(hosts: &[&str]) -> Options {
        Options {
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            ..Default::default()
        }
    }

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn adds_keeps_and_refuses() {
        let mut doc = obj(json!({"auths": {"x": {}}, "credHelpers": {"gcr.io": "gcloud"}}));
        let changes = apply(&mut doc, &opts(&["a.example", "b.example"])).unwrap();
        assert_eq!(changes.len(), 2);
        let keys: Vec<&String> = doc["credHelpers"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["gcr.io", "a.example", "b.example"]);
        assert!(apply(&mut doc, &opts(&["a.example"])).unwrap().is_empty());

        let before = doc.clone();
        let err = apply(&mut doc, &opts(&["c.example", "gcr.io"])).unwrap_err();
        assert!(matches!(err, ApplyError::OtherHelper { ref helper, .. } if helper == "gcloud"));
        assert_eq!(doc, before, "a refusal changes nothing");

        let mut force = opts(&["gcr.io"]);
        force.force = true;
        assert_eq!(
            apply(&mut doc, &force).unwrap(),
            [Change::Replace {
                host: "gcr.io".into(),
                old: "gcloud".into()
            }]
        );
    }

    #[test]
    fn removes_only_ours() {
        let mut doc = obj(json!({"credHelpers": {"a": "ecr-login", "b": "other"}, "z": 1}));
        let mut o = opts(&["a", "missing"]);
        o.remove = true;
        assert_eq!(apply(&mut doc, &o).unwrap(), [Change::Remove("a".into())]);
        assert!(apply(&mut doc, &o).unwrap().is_empty());
        o.hosts = vec!["b".into()];
        assert!(apply(&mut doc, &o).is_err());
        o.force = true;
        apply(&mut doc, &o).unwrap();
        assert_eq!(Value::Object(doc), json!({"z": 1}));
    }

    #[test]
    fn refuses_odd_shapes() {
        let mut doc = obj(json!({"credHelpers": []}));
        assert!(matches!(
            apply(&mut doc, &opts(&["a"])),
            Err(ApplyError::NotObject)
        ));
        let mut doc = obj(json!({"credHelpers": null}));
        assert_eq!(apply(&mut doc, &opts(&["a"])).unwrap().len(), 1);
    }

    #[test]
    fn serialization_follows_the_file() {
        let doc = obj(json!({"b": 1, "a": {"c": 2}}));
        let tabs = String::from_utf8(serialize(&doc, Some("{\n\t\"b\": 1\n}"))).unwrap();
        assert_eq!(tabs, "{\n\t\"b\": 1,\n\t\"a\": {\n\t\t\"c\": 2\n\t}\n}");
        let spaces = String::from_utf8(serialize(&doc, Some("{\n  \"b\": 1\n}\n"))).unwrap();
        assert!(spaces.starts_with("{\n  \"b\": 1,") && spaces.ends_with("}\n"));
        assert!(serialize(&doc, None).ends_with(b"}\n"));
    }
}
