//! Errors told in one line, for people: an HTTP error's "error sending request" alone says
//! nothing; its causes ("connection refused") say what to fix.

/// An error and its causes, in one line (a cause already in the text is not repeated).
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}

/// How a process ended, as people write it: `exited with 128`, `was killed by SIGKILL`.
///
/// Never Rust's `exit status Some(128)`: a person reading a failed step wants the number git
/// or the shell would have printed.
pub fn ended(code: Option<i32>, signal: Option<i32>) -> String {
    match (code, signal) {
        (Some(code), _) => format!("exited with {code}"),
        (None, Some(signal)) => match nix::sys::signal::Signal::try_from(signal) {
            Ok(name) => format!("was killed by {name}"),
            Err(_) => format!("was killed by signal {signal}"),
        },
        (None, None) => "ended without an exit status".to_owned(),
    }
}

/// How a process ended and what it said: `exited with 128: fatal: not a git repository`.
///
/// `said` is trimmed; its inner lines are kept (git's advice often follows its error on the
/// next lines, and the first line alone can mislead), up to about 4 KiB.
pub fn ended_saying(code: Option<i32>, signal: Option<i32>, said: &str) -> String {
    const LIMIT: usize = 4096;
    let mut said = said.trim();
    if said.len() > LIMIT {
        let mut cut = LIMIT;
        while !said.is_char_boundary(cut) {
            cut -= 1;
        }
        said = &said[..cut];
    }
    let ended = ended(code, signal);
    if said.is_empty() { ended } else { format!("{ended}: {said}") }
}

/// [`ended`] for a standard library exit status.
pub fn status(status: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    ended(status.code(), status.signal())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exit_is_told_as_people_write_it() {
        assert_eq!(ended(Some(128), None), "exited with 128");
        assert_eq!(ended(None, Some(9)), "was killed by SIGKILL");
        assert_eq!(
            ended_saying(Some(1), None, "\nfatal: no\nhint: yes\n"),
            "exited with 1: fatal: no\nhint: yes"
        );
        assert_eq!(ended_saying(Some(2), None, "  "), "exited with 2");
    }
}
