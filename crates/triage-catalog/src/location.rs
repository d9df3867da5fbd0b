//! Places in a TOML file (the catalog's or `triage.toml`): byte offsets turned into file, line,
//! column and dotted key path, and dotted key paths turned back into spans.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;

use toml::de::{DeTable, DeValue};

/// A place in a file: its origin (a path, or a name such as `embedded catalog.toml`) and a
/// 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    /// The file's path or name.
    pub origin: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.origin, self.line, self.column)
    }
}

/// TOML text and its name, to turn spans into [`Location`]s and key paths, and key paths into
/// spans.
///
/// ```
/// use triage_catalog::Source;
///
/// let source = Source { text: "[fallback]\nmax_attempts = 0\n", origin: "triage.toml" };
/// let span = source.key_span(&["fallback", "max_attempts"]).unwrap();
/// assert_eq!(source.span(&span).to_string(), "triage.toml:2:16");
/// assert_eq!(source.key_path(&span).as_deref(), Some("fallback.max_attempts"));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// The whole text.
    pub text: &'a str,
    /// The file's path or name, for messages.
    pub origin: &'a str,
}

impl Source<'_> {
    /// The location of a byte offset (clamped to the text).
    pub fn at(&self, offset: usize) -> Location {
        let offset = floor_char_boundary(self.text, offset.min(self.text.len()));
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
        Location {
            origin: self.origin.to_owned(),
            line,
            column: before[line_start..].chars().count() + 1,
        }
    }

    /// The location of a span's start.
    pub fn span(&self, span: &Range<usize>) -> Location {
        self.at(span.start)
    }

    /// The dotted key path at a span, like `models[3].pricing.input`: the table header in
    /// force (with the entry's index for arrays of tables) followed by the key on the span's
    /// line. A span on a header line is that table.
    ///
    /// The TOML parser reports a byte span but not the key path, so the path is rebuilt from
    /// the text: good for the one-key-per-line files triage reads, `None` when nothing fits.
    pub fn key_path(&self, span: &Range<usize>) -> Option<String> {
        self.path_at(span, false)
    }

    /// The key path for a "missing field" error, whose span covers the table that lacks the
    /// field: like [`Source::key_path`], without the last key of a dotted key on the line.
    pub fn table_path(&self, span: &Range<usize>) -> Option<String> {
        self.path_at(span, true)
    }

    /// The span of the value at a key path (`["fallback", "routes", "faq"]`), found by
    /// parsing the document. It follows `[a.b]` headers, dotted keys (`a.b = 1`) and inline
    /// tables (`a = { b = 1 }`); a segment that is a number indexes an array (`["rules", "1"]`
    /// for the second `[[rules]]`). A table with a header spans its header; one that is only
    /// implied by another header or a dotted key has no text of its own, so its span is its
    /// key's. `None` when the text does not parse or the path is not there.
    pub fn key_span(&self, path: &[&str]) -> Option<Range<usize>> {
        let document = DeTable::parse(self.text).ok()?;
        let (first, rest) = path.split_first()?;
        let (key, value) = document
            .get_ref()
            .iter()
            .find(|(key, _)| key.get_ref().as_ref() == *first)?;
        let mut key_span = key.span();
        let mut current = value;
        for segment in rest {
            let next = match current.get_ref() {
                DeValue::Table(table) => {
                    let (key, value) = table
                        .iter()
                        .find(|(key, _)| key.get_ref().as_ref() == *segment)?;
                    key_span = key.span();
                    value
                }
                DeValue::Array(array) => {
                    let index: usize = segment.parse().ok()?;
                    array.get(index)?
                }
                _ => return None,
            };
            current = next;
        }
        let span = current.span();
        Some(if span.is_empty() { key_span } else { span })
    }

    fn path_at(&self, span: &Range<usize>, missing: bool) -> Option<String> {
        let text = self.text;
        let start = floor_char_boundary(text, span.start.min(text.len()));
        let end = floor_char_boundary(text, span.end.min(text.len())).max(start);
        let line_start = text[..start].rfind('\n').map_or(0, |newline| newline + 1);
        let line_end = text[start..]
            .find('\n')
            .map_or(text.len(), |newline| start + newline);
        let line = &text[line_start..line_end];
        if line.trim_start().starts_with('[') {
            // The span is a whole table, starting at its header.
            return current_header(&text[..line_end]);
        }

        // The key on this line: the text before `=` when the span is on the value, or the
        // spanned text itself when the span is on the key.
        let spanned = text[start..end.min(line_end)].trim();
        let key = match line.find('=') {
            Some(equals) => line[..equals].trim(),
            None => spanned,
        };
        let key = key.trim_matches(|c: char| c == '[' || c == ']').trim();
        let key = (!key.is_empty() && key.chars().all(is_key_char)).then_some(key);
        let key = if missing {
            key.and_then(|key| key.rsplit_once('.').map(|(table, _)| table))
        } else {
            key
        };

        let header = current_header(&text[..line_start]);
        match (header, key) {
            (Some(header), Some(key)) => Some(format!("{header}.{key}")),
            (Some(header), None) => Some(header),
            (None, Some(key)) => Some(key.to_owned()),
            (None, None) => None,
        }
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

fn is_key_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '"' | '\'' | ' ')
}

/// The last table header before `before`, as a path; arrays of tables get their entry index.
fn current_header(before: &str) -> Option<String> {
    let mut header = None;
    let mut array_counts: HashMap<String, usize> = HashMap::new();
    for line in before.lines() {
        let line = line.trim();
        if let Some(name) = header_name(line, "[[", "]]") {
            let count = array_counts.entry(name.clone()).or_insert(0);
            header = Some(format!("{name}[{count}]"));
            *count += 1;
        } else if let Some(name) = header_name(line, "[", "]") {
            header = Some(name);
        }
    }
    header
}

/// The table name of a well-formed header line such as `[providers.openai]`.
fn header_name(line: &str, open: &str, close: &str) -> Option<String> {
    let (name, _) = line.strip_prefix(open)?.split_once(close)?;
    let name = name.trim();
    let well_formed = !name.is_empty() && name.chars().all(is_key_char);
    well_formed.then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str) -> Source<'_> {
        Source {
            text,
            origin: "f.toml",
        }
    }

    #[test]
    fn locations_count_lines_and_characters() {
        let text = "a = 1\nnamé = \"x\"\nb = 2\n";
        let at = |needle: &str| {
            let location = source(text).at(text.find(needle).unwrap());
            (location.line, location.column)
        };
        assert_eq!(at("a"), (1, 1));
        assert_eq!(at("\"x\""), (2, 8), "columns count characters, not bytes");
        assert_eq!(at("b"), (3, 1));
        assert_eq!(source(text).at(text.len() + 10).line, 4);
        assert_eq!(source(text).at(1).to_string(), "f.toml:1:2");
    }

    #[test]
    fn key_paths_follow_headers_and_array_entries() {
        let text = "[providers.x]\nprotocol = 1\n[[models]]\nid = 1\n[[models]]\npricing.input = 2\n[routing]\nstrategy = \"x\"\n";
        let span = |needle: &str| {
            let start = text.find(needle).unwrap();
            start..start + needle.len()
        };
        let cases: [(&str, bool, Option<&str>); 7] = [
            ("1\n[[", false, Some("providers.x.protocol")),
            ("id =", false, Some("models[0].id")),
            ("2", false, Some("models[1].pricing.input")),
            ("pricing", true, Some("models[1].pricing")),
            ("[routing]", false, Some("routing")),
            ("[[models]]\npricing", false, Some("models[1]")),
            ("\"x\"", false, Some("routing.strategy")),
        ];
        for (needle, missing, expected) in cases {
            let path = if missing {
                source(text).table_path(&span(needle))
            } else {
                source(text).key_path(&span(needle))
            };
            assert_eq!(path.as_deref(), expected, "at {needle:?}");
        }
        assert_eq!(source("").key_path(&(0..0)), None);
    }

    #[test]
    fn key_spans_find_headers_dotted_keys_and_inline_tables() {
        let text = "\
top = 1
[fallback]
max_attempts = 0
routes.faq = { checks = [\"json\"], min_chars = 5 }
[fallback.routes.reason]
refusal = \"x\"
[[rules]]
name = \"a\"
[[rules]]
name = \"b\"
";
        let cases: [(&[&str], Option<&str>); 13] = [
            (&["top"], Some("1")),
            (&["fallback", "max_attempts"], Some("0")),
            (&["fallback", "routes", "faq", "min_chars"], Some("5")),
            (&["fallback", "routes", "faq", "checks"], Some("[\"json\"]")),
            (&["fallback", "routes", "reason", "refusal"], Some("\"x\"")),
            (
                &["fallback", "routes", "reason"],
                Some("[fallback.routes.reason]"),
            ),
            (&["fallback"], Some("[fallback]")),
            (&["fallback", "routes"], Some("routes")),
            (&["rules", "1", "name"], Some("\"b\"")),
            (&["fallback", "missing"], None),
            (&["top", "deeper"], None),
            (&["rules", "9"], None),
            (&[], None),
        ];
        for (path, expected) in cases {
            let found = source(text).key_span(path).map(|span| &text[span]);
            assert_eq!(found, expected, "at {path:?}");
        }
        assert_eq!(source("not = [toml").key_span(&["not"]), None);
    }
}
