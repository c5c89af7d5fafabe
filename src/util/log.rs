//! Leveled diagnostics on stderr or in a file, chosen by `AWS_ECR_LOG_LEVEL` and `AWS_ECR_LOG_FILE`.
//!
//! Deliberately tiny: the cache-hit path runs on every pull, so a disabled level costs one
//! comparison against a value read once. Messages must never contain a secret; callers pass
//! [`crate::util::secret::Secret`] values only through `expose()`, which no log call does.

use std::fmt;
use std::io::Write;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
    Trace = 5,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warning",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Level> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "error" => Level::Error,
            "warn" | "warning" => Level::Warn,
            "info" => Level::Info,
            "debug" => Level::Debug,
            "trace" => Level::Trace,
            _ => return None,
        })
    }
}

struct LogSettings {
    level: Level,
    file: Option<std::path::PathBuf>,
}

static SETTINGS: OnceLock<LogSettings> = OnceLock::new();

/// Takes the level and file from the settings; called once, at the edge. Until then (and in
/// unit tests) warnings and errors go to stderr.
pub(crate) fn init(settings: &crate::util::settings::Settings) {
    let mut unknown = None;
    let _ = SETTINGS.set(LogSettings {
        level: match settings.nonempty("AWS_ECR_LOG_LEVEL") {
            Some(l) if !l.trim().is_empty() => Level::parse(l).unwrap_or_else(|| {
                unknown = Some(l.to_string());
                Level::Warn
            }),
            _ => Level::Warn,
        },
        file: settings
            .nonempty("AWS_ECR_LOG_FILE")
            .map(|f| settings.expand_home(f)),
    });
    // A typo in the level would otherwise silently hide the debug output asked for.
    if let Some(l) = unknown {
        write(
            Level::Warn,
            format_args!(
                "AWS_ECR_LOG_LEVEL={l:?} is not one of error, warn, info, debug, trace; using warn"
            ),
        );
    }
}

fn settings() -> &'static LogSettings {
    SETTINGS.get_or_init(|| LogSettings {
        level: Level::Warn,
        file: None,
    })
}

pub(crate) fn enabled(level: Level) -> bool {
    level <= settings().level
}

/// Writes one line. To a file, each line carries a UTC timestamp and the process id, since
/// many helpers append to it at once; a file that cannot be used falls back to stderr.
pub(crate) fn write(level: Level, args: fmt::Arguments<'_>) {
    if let Some(mut f) = log_file() {
        let line = format!(
            "{} [{}] {}: {args}\n",
            utc_timestamp(),
            std::process::id(),
            level.name()
        );
        // One write call per line: O_APPEND keeps concurrent writers' lines whole.
        if f.write_all(line.as_bytes()).is_ok() {
            return;
        }
    }
    print(level, args);
}

/// Writes one message to stderr, whatever the level setting, in the one form every message
/// of the program has: `ecr-login: <level>: <message>`. The level is coloured only when
/// stderr is a terminal and `NO_COLOR` is unset or empty (<https://no-color.org>).
pub(crate) fn print(level: Level, args: fmt::Arguments<'_>) {
    let colour = colour(level, std::env::var_os("NO_COLOR").as_deref(), || {
        // SAFETY: isatty has no preconditions.
        unsafe { libc::isatty(2) == 1 }
    });
    let (on, off) = match colour {
        Some(code) => (code, "\x1b[0m"),
        None => ("", ""),
    };
    let _ = writeln!(
        std::io::stderr().lock(),
        "ecr-login: {on}{}{off}: {args}",
        level.name()
    );
}

/// The escape sequence that colours `level`, if colour is wanted. Only messages on stderr
/// ask, so the terminal check runs on error paths only.
fn colour(
    level: Level,
    no_color: Option<&std::ffi::OsStr>,
    stderr_is_terminal: impl FnOnce() -> bool,
) -> Option<&'static str> {
    let code = match level {
        Level::Error => "\x1b[1;31m",
        Level::Warn => "\x1b[1;33m",
        _ => return None,
    };
    let no_color = no_color.is_some_and(|v| !v.is_empty());
    (!no_color && stderr_is_terminal()).then_some(code)
}

/// The log file, opened once; `None` (after one warning on stderr) when it cannot be used.
fn log_file() -> Option<&'static std::fs::File> {
    static FILE: OnceLock<Option<std::fs::File>> = OnceLock::new();
    FILE.get_or_init(|| {
        let path = settings().file.as_ref()?;
        open_log(path)
            .map_err(|why| {
                print(
                    Level::Warn,
                    format_args!("not logging to {}: {why}", path.display()),
                );
            })
            .ok()
    })
    .as_ref()
}

/// Opens the log file for appending: never through a symlink (the README's example lives in
/// `/tmp`, where anyone can plant one), never blocking (a FIFO without a reader), and only a
/// regular file of ours (or root's) that nobody else can write.
fn open_log(path: &std::path::Path) -> Result<std::fs::File, String> {
    use std::os::unix::fs::OpenOptionsExt;
    // 0600 for a new file: lines name hosts, profiles and roles, which are nobody else's.
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => "it is a symbolic link".to_string(),
            Some(libc::ENXIO) => "it is a FIFO with no reader".to_string(),
            _ => e.to_string(),
        })?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    crate::util::files::check(path, &meta, crate::util::files::Trust::Owner).map_err(
        |e| match e {
            crate::util::files::FileError::Untrusted { why, fix, .. } => format!("{why}; {fix}"),
            other => other.to_string(),
        },
    )?;
    Ok(file)
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` from the system clock.
pub(crate) fn utc_timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_millis()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

macro_rules! log_at {
    ($level:expr, $($arg:tt)*) => {
        if $crate::util::log::enabled($level) {
            $crate::util::log::write($level, format_args!($($arg)*))
        }
    };
}
macro_rules! error { ($($arg:tt)*) => { $crate::util::log::log_at!($crate::util::log::Level::Error, $($arg)*) }; }
macro_rules! warning { ($($arg:tt)*) => { $crate::util::log::log_at!($crate::util::log::Level::Warn, $($arg)*) }; }
#[allow(unused_macros)]
macro_rules! info { ($($arg:tt)*) => { $crate::util::log::log_at!($crate::util::log::Level::Info, $($arg)*) }; }
macro_rules! debug { ($($arg:tt)*) => { $crate::util::log::log_at!($crate::util::log::Level::Debug, $($arg)*) }; }
#[allow(unused_macros)]
macro_rules! trace { ($($arg:tt)*) => { $crate::util::log::log_at!($crate::util::log::Level::Trace, $($arg)*) }; }
#[allow(unused_imports)]
pub(crate) use {debug, error, info, log_at, trace, warning};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_414), (2025, 11, 22));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn colour_only_for_problems_on_a_terminal() {
        use std::ffi::OsStr;
        assert!(colour(Level::Error, None, || true).is_some());
        assert!(colour(Level::Warn, Some(OsStr::new("")), || true).is_some());
        assert_eq!(colour(Level::Error, Some(OsStr::new("1")), || true), None);
        assert_eq!(colour(Level::Error, None, || false), None);
        assert_eq!(colour(Level::Debug, None, || true), None);
    }

    #[test]
    fn levels() {
        assert_eq!(Level::parse("DEBUG"), Some(Level::Debug));
        assert_eq!(Level::parse("nope"), None);
        assert!(Level::Error < Level::Trace);
    }
}
