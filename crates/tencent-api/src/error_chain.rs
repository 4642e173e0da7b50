//! One line from an error and its sources, for messages built from foreign errors.
//!
//! A leaf module: `error`, `metadata` and `client` all use it, and it uses none of them.

/// The message of `e` followed by those of its sources, joined with `": "`.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        next = s.source();
    }
    out
}
