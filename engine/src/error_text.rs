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
