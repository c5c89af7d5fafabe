fn main() {
    let mut args = std::env::args_os();
    let program = args
        .next()
        .as_deref()
        .and_then(|p| std::path::Path::new(p).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Arguments that are not UTF-8 cannot name an action; they become a usage error.
    let args: Vec<String> = args.map(|a| a.to_string_lossy().into_owned()).collect();
    std::process::exit(ecr_login::cli::run_as(&program, &args));
}
