//! `AWS_ECR_LOG_LEVEL` and `AWS_ECR_LOG_FILE`, `--help`, and the man page.

use crate::support;

use support::*;

const HOST: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com";
const PASSWORD: &str = "log-password-never-written";

#[test]
fn debug_tells_each_step_into_the_file_and_no_secret() {
    let mut env = TestEnv::new();
    env.aws.set_password(PASSWORD);
    let log = env.dir.path().join("logs/helper.log");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    env.set("AWS_ECR_LOG_LEVEL", "debug")
        .set("AWS_ECR_LOG_FILE", path_str(&log));
    let miss = env.get(HOST);
    assert!(miss.status.success());
    assert!(miss.stderr.is_empty(), "{}", stderr(&miss));
    let hit = env.get(HOST);
    assert!(hit.status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    for needle in [
        "identity for 123456789012.dkr.ecr.us-west-2.amazonaws.com: the default credential chain",
        "environment variables AWS_ACCESS_KEY_ID",
        "cache miss",
        "no entry",
        &format!("calling GetAuthorizationToken at {}", env.aws.url()),
        "GetAuthorizationToken answered in",
        "cache hit",
        "get finished in",
    ] {
        assert!(text.contains(needle), "{needle:?} not in:\n{text}");
    }
    for secret in [PASSWORD, SECRET_KEY, ACCESS_KEY] {
        assert!(!text.contains(secret), "{secret} in the log");
    }
    // Each line carries a timestamp and the process id.
    assert!(
        text.lines()
            .all(|l| l.len() > 25 && l.as_bytes()[4] == b'-' && l.contains("] debug: ")),
        "{text}"
    );
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&log).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn the_default_level_is_quiet_and_errors_still_show() {
    let mut env = TestEnv::new();
    let out = env.get(HOST);
    assert!(out.status.success());
    assert!(out.stderr.is_empty(), "{}", stderr(&out));

    env.set("AWS_ECR_LOG_LEVEL", "error");
    env.unset("AWS_ACCESS_KEY_ID")
        .unset("AWS_SECRET_ACCESS_KEY");
    let out = env.get("123456789012.dkr.ecr.eu-west-1.amazonaws.com");
    assert_not_found(&out);
    assert!(stderr(&out).contains("error: "), "{}", stderr(&out));
    assert!(!stderr(&out).contains("debug: "));
}

#[test]
fn an_unknown_level_is_reported() {
    let mut env = TestEnv::new();
    env.set("AWS_ECR_LOG_LEVEL", "verbose");
    let out = env.get(HOST);
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("AWS_ECR_LOG_LEVEL=\"verbose\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn help_for_the_binary_and_each_subcommand() {
    let env = TestEnv::new();
    for (args, needle) in [
        (&["--help"][..], "configure"),
        (&["-h"], "doctor"),
        (&["configure", "--help"], "--registry"),
        (&["doctor", "--help"], "--json"),
        (&["get", "--help"], "stdin"),
    ] {
        let out = env.run(args, b"");
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(stdout(&out).contains(needle), "{args:?}: {}", stdout(&out));
        assert!(out.stderr.is_empty());
    }
    // The man subcommand is listed too: the README points to it (issue 19).
    assert!(stdout(&env.run(&["--help"], b"")).contains("man "));
}

#[test]
fn subcommand_mistakes_exit_1_with_their_usage() {
    let env = TestEnv::new();
    for args in [&["configure", "--bogus"][..], &["doctor", "a", "b"]] {
        let out = env.run(args, b"");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr(&out).contains("Usage:"), "{}", stderr(&out));
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn the_man_page_is_roff_from_the_same_definitions() {
    let env = TestEnv::new();
    let out = env.run(&["man"], b"");
    assert!(out.status.success());
    let page = stdout(&out);
    assert!(
        page.contains("\n.TH docker-credential-ecr-login 1"),
        "{}",
        &page[..page.len().min(200)]
    );
    assert_eq!(page.matches(".ds Aq").count(), 2, "the preamble once");
    for needle in [
        ".SH NAME",
        ".SH SYNOPSIS",
        ".SH COMMANDS",
        "configure",
        "registry",
        "doctor",
        "AWS_ECR_LOG_LEVEL",
        ".SH ENVIRONMENT",
        ".SH \"EXIT STATUS\"",
    ] {
        assert!(page.contains(needle), "{needle} missing");
    }
    // Rendered by man(1) when it is installed: no warnings, the options are there.
    let man = std::process::Command::new("sh")
        .args(["-c", "command -v man"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !man {
        eprintln!("man is not installed: rendering not checked");
        return;
    }
    let file = env.write_file("page.1", &page);
    let rendered = std::process::Command::new("man")
        .arg("-l")
        .arg(&file)
        .env("MANWIDTH", "100")
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .output()
        .unwrap();
    assert!(rendered.status.success(), "{}", stderr(&rendered));
    let text = String::from_utf8_lossy(&rendered.stdout);
    assert!(
        text.contains("--dry-run") && text.contains("EXIT STATUS"),
        "{text}"
    );
}
