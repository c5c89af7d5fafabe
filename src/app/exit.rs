//! How the process ends. Every front end ends in an [`Exit`]; [`Exit::code`] is the one place
//! it becomes the number the caller sees.

/// The outcome a front end reports; its exit code comes from [`Exit::code`] alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// The answer was given in full.
    Ok,
    /// No answer: no token, a refused request, a failed check, or a stdout that lost it.
    Failed,
    /// The command line named nothing to run.
    Usage,
}

impl Exit {
    /// The exit code. A usage error is 1, not clap's 2: the Docker protocol's callers expect 1
    /// for every failure.
    pub(crate) fn code(self) -> i32 {
        match self {
            Exit::Ok => 0,
            Exit::Failed | Exit::Usage => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The numbers callers see: a credential helper's callers know 0 and 1 only.
    #[test]
    fn codes() {
        assert_eq!(Exit::Ok.code(), 0);
        assert_eq!(Exit::Failed.code(), 1);
        assert_eq!(Exit::Usage.code(), 1);
    }
}
