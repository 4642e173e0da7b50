//! The key=value line format, and the redaction applied while formatting.

use std::fmt::{self, Display, Write as _};

use super::Level;

/// Longest rendering of one value, in bytes; longer values are cut and marked.
const MAX_VALUE_LEN: usize = 2048;

/// What replaces a value that must not be logged.
pub(crate) const REDACTED: &str = "[redacted]";

/// Key fragments whose values are never logged, whatever they are.
const SECRET_KEYS: [&str; 5] = ["secret", "password", "token", "authorization", "signature"];

/// Marks in a value that betray a signed request; such a value is replaced whole.
const SECRET_MARKS: [&str; 2] = ["TC3-HMAC-SHA256", "Signature="];

/// `bin=<binary> level=<level> event=<event> k=v ...`: the message part of every line.
pub(crate) fn message(
    binary: &str,
    level: Level,
    event: &str,
    fields: &[(&str, &dyn Display)],
) -> String {
    let mut out = String::with_capacity(128);
    out.push_str("bin=");
    push_value(&mut out, binary);
    out.push_str(" level=");
    out.push_str(level.as_str());
    out.push_str(" event=");
    push_key(&mut out, event);
    for (key, value) in fields {
        out.push(' ');
        push_key(&mut out, key);
        out.push('=');
        if is_secret_key(key) {
            out.push_str(REDACTED);
            continue;
        }
        let rendered = render(*value);
        if SECRET_MARKS.iter().any(|m| rendered.contains(m)) {
            out.push_str(REDACTED);
        } else {
            push_value(&mut out, &rendered);
        }
    }
    out
}

fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_KEYS.iter().any(|s| key.contains(s))
}

/// Renders a value through its `Display`, never panicking (a failing `Display` leaves what it
/// wrote so far) and never longer than `MAX_VALUE_LEN`.
fn render(value: &dyn Display) -> String {
    let mut capped = Capped {
        out: String::new(),
        truncated: false,
    };
    let _ = write!(capped, "{value}");
    if capped.truncated {
        capped.out.push_str("...[truncated]");
    }
    capped.out
}

struct Capped {
    out: String,
    truncated: bool,
}

impl fmt::Write for Capped {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = MAX_VALUE_LEN.saturating_sub(self.out.len());
        if s.len() <= room {
            self.out.push_str(s);
            return Ok(());
        }
        let mut cut = room;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        self.out.push_str(&s[..cut]);
        self.truncated = true;
        // Stop the formatter: nothing more fits.
        Err(fmt::Error)
    }
}

/// Keys (and event names) are kept to `[A-Za-z0-9_.-]`; anything else becomes '_'.
fn push_key(out: &mut String, key: &str) {
    if key.is_empty() {
        out.push('_');
    }
    for c in key.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
            out.push(c);
        } else {
            out.push('_');
        }
    }
}

/// A value bare when it is safe to, else in double quotes with `\"`, `\\`, `\n`, `\r`, `\t` and
/// `\u{..}` escapes.
fn push_value(out: &mut String, value: &str) {
    let needs_quotes = value.is_empty()
        || value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\\' | '='));
    if !needs_quotes {
        out.push_str(value);
        return;
    }
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::net::Ipv4Addr;

    use super::*;

    fn line(fields: &[(&str, &dyn Display)]) -> String {
        message("vip-migrate", Level::Info, "migrate_done", fields)
    }

    #[test]
    fn plain_values_are_bare() {
        let vip = Ipv4Addr::new(10, 0, 1, 100);
        assert_eq!(
            line(&[
                ("vip", &vip),
                ("eni", &"eni-x"),
                ("attempt", &2),
                ("elapsed_ms", &1234u64)
            ]),
            "bin=vip-migrate level=info event=migrate_done vip=10.0.1.100 eni=eni-x attempt=2 elapsed_ms=1234"
        );
    }

    #[test]
    fn awkward_values_are_quoted_and_escaped() {
        assert_eq!(
            line(&[
                ("msg", &"no route to host"),
                ("q", &r#"say "hi""#),
                ("path", &r"C:\x"),
                ("nl", &"a\nb\tc\r"),
                ("eq", &"a=b"),
                ("empty", &""),
                ("bell", &"\u{7}"),
                ("utf8", &"héllo"),
            ]),
            concat!(
                "bin=vip-migrate level=info event=migrate_done",
                r#" msg="no route to host" q="say \"hi\"" path="C:\\x" nl="a\nb\tc\r""#,
                r#" eq="a=b" empty="" bell="\u{7}" utf8=héllo"#
            )
        );
    }

    #[test]
    fn keys_and_events_are_sanitized() {
        assert_eq!(
            message("b", Level::Warn, "bad event", &[("a b=c", &1)]),
            "bin=b level=warn event=bad_event a_b_c=1"
        );
        assert_eq!(
            message("b", Level::Debug, "", &[]),
            "bin=b level=debug event=_"
        );
    }

    #[test]
    fn secret_keys_and_signed_headers_are_redacted() {
        let header = "TC3-HMAC-SHA256 Credential=AKIDx/2026-01-01/vpc/tc3_request, SignedHeaders=content-type;host, Signature=abc";
        let out = line(&[
            ("secret_key", &"s3cr3t"),
            ("SessionToken", &"tok"),
            ("Authorization", &"whatever"),
            ("header", &header),
            ("ok", &"fine"),
        ]);
        assert_eq!(
            out,
            "bin=vip-migrate level=info event=migrate_done secret_key=[redacted] SessionToken=[redacted] Authorization=[redacted] header=[redacted] ok=fine"
        );
    }

    #[test]
    fn long_values_are_cut_on_a_char_boundary() {
        let long = "é".repeat(MAX_VALUE_LEN);
        let out = line(&[("v", &long)]);
        assert!(
            out.ends_with("...[truncated]"),
            "{}",
            &out[out.len() - 40..]
        );
        assert!(out.len() < MAX_VALUE_LEN + 100);
    }

    #[test]
    fn a_failing_display_does_not_panic() {
        struct Bad;
        impl Display for Bad {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("part")?;
                Err(fmt::Error)
            }
        }
        assert_eq!(
            line(&[("v", &Bad)]),
            "bin=vip-migrate level=info event=migrate_done v=part"
        );
    }
}
