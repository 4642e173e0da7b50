//! Turns a byte span reported by the TOML deserializer into the dotted key it belongs to
//! (`check.on_cloud_error`, `vip[1].address`) and a line number, so errors name the key.

use std::ops::Range;

use toml::de::{DeTable, DeValue};

/// The dotted key path at `span` in `text`, or `None` when the document does not parse (a
/// syntax error, which has no key) or nothing matches.
pub(crate) fn key_at(text: &str, span: &Range<usize>) -> Option<String> {
    let doc = DeTable::parse(text).ok()?;
    let mut path = Vec::new();
    if find_in_table(doc.get_ref(), span.start, &mut path) {
        Some(render(&path))
    } else {
        None
    }
}

/// The 1-based line of byte offset `pos`.
pub(crate) fn line_of(text: &str, pos: usize) -> usize {
    let end = pos.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

enum Seg {
    Key(String),
    Index(usize),
}

fn render(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Depth first: the innermost key whose key or value span holds `pos`. Tables declared with a
/// `[header]` only span their header, so children are searched before the container's span.
fn find_in_table(table: &DeTable<'_>, pos: usize, path: &mut Vec<Seg>) -> bool {
    for (key, value) in table.iter() {
        path.push(Seg::Key(key.get_ref().to_string()));
        if key.span().contains(&pos) || find_in_value(value.get_ref(), value.span(), pos, path) {
            return true;
        }
        path.pop();
    }
    false
}

fn find_in_value(value: &DeValue<'_>, span: Range<usize>, pos: usize, path: &mut Vec<Seg>) -> bool {
    match value {
        DeValue::Table(t) if find_in_table(t, pos, path) => return true,
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(Seg::Index(i));
                if find_in_value(item.get_ref(), item.span(), pos, path) {
                    return true;
                }
                path.pop();
            }
        }
        _ => {}
    }
    span.contains(&pos)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn key(text: &str, needle: &str) -> Option<String> {
        let start = text.find(needle).unwrap();
        key_at(text, &(start..start + needle.len()))
    }

    #[test]
    fn finds_nested_keys_and_indexes() {
        let text = "[[vip]]\naddress = \"10.0.1.100\"\n\n[check]\ndeadline_ms = 5\n\
                    service_checks = [ { argv = [\"a\"], timeout_ms = 3 }, { argv = [], timeout_ms = \"x\" } ]\n\n\
                    [[vip]]\naddress = \"10.0.1.300\"\n";
        assert_eq!(
            key(text, "\"10.0.1.300\"").as_deref(),
            Some("vip[1].address")
        );
        assert_eq!(
            key(text, "\"x\"").as_deref(),
            Some("check.service_checks[1].timeout_ms")
        );
        assert_eq!(
            key(text, "deadline_ms").as_deref(),
            Some("check.deadline_ms")
        );
        // The header of the second [[vip]] table points at the table itself.
        let second = text.rfind("[[vip]]").unwrap();
        assert_eq!(
            key_at(text, &(second..second + 7)).as_deref(),
            Some("vip[1]")
        );
        assert_eq!(line_of(text, second), 8);
    }
}
