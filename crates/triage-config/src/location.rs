//! Places in a config file: byte offsets turned into file, line, column and dotted key path.

use std::fmt;
use std::ops::Range;

/// A place in a config file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    /// The file's path (or a name such as `<inline>`).
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

/// Source text and its name, to turn spans into locations.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Source<'a> {
    pub(crate) text: &'a str,
    pub(crate) origin: &'a str,
}

impl Source<'_> {
    /// The location of a byte offset.
    pub(crate) fn at(&self, offset: usize) -> Location {
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
    pub(crate) fn span(&self, span: &Range<usize>) -> Location {
        self.at(span.start)
    }

    /// The dotted key path at a span: the table header in force (with an index for arrays of
    /// tables) and the key on the span's line (`rules[1].regex`). Rebuilt from the text, since
    /// the TOML parser reports only spans; `None` when nothing fits.
    pub(crate) fn key_path(&self, span: &Range<usize>) -> Option<String> {
        let text = self.text;
        let start = floor_char_boundary(text, span.start.min(text.len()));
        let end = floor_char_boundary(text, span.end.min(text.len())).max(start);
        let line_start = text[..start].rfind('\n').map_or(0, |newline| newline + 1);
        let line_end = text[start..]
            .find('\n')
            .map_or(text.len(), |newline| start + newline);
        let line = &text[line_start..line_end];
        let header = current_header(&text[..line_start]);
        if line.trim_start().starts_with('[') {
            let name = line.trim().trim_matches(|c| c == '[' || c == ']').trim();
            return (!name.is_empty()).then(|| name.to_owned()).or(header);
        }
        let spanned = text[start..end.min(line_end)].trim();
        let key = match line.find('=') {
            Some(equals) => line[..equals].trim(),
            None => spanned,
        };
        let key = (!key.is_empty() && key.chars().all(is_key_char)).then_some(key);
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

/// The last table header before `before`; arrays of tables get their entry index.
fn current_header(before: &str) -> Option<String> {
    let mut header = None;
    let mut counts: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for line in before.lines() {
        let line = line.trim();
        if let Some(name) = line
            .strip_prefix("[[")
            .and_then(|rest| rest.split("]]").next())
        {
            let name = name.trim().to_owned();
            let count = counts.entry(name.clone()).or_insert(0);
            header = Some(format!("{name}[{count}]"));
            *count += 1;
        } else if let Some(name) = line
            .strip_prefix('[')
            .and_then(|rest| rest.split(']').next())
        {
            header = Some(name.trim().to_owned());
        }
    }
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_columns_and_key_paths() {
        let text =
            "[routing]\nstrategy = \"x\"\n[[rules]]\ncontains = \"a\"\n[[rules]]\nregex = \"(\"\n";
        let source = Source {
            text,
            origin: "t.toml",
        };
        let span = |needle: &str| {
            let start = text.find(needle).unwrap();
            start..start + needle.len()
        };
        assert_eq!(source.span(&span("\"x\"")).to_string(), "t.toml:2:12");
        assert_eq!(
            source.key_path(&span("\"x\"")).as_deref(),
            Some("routing.strategy")
        );
        assert_eq!(
            source.key_path(&span("\"(\"")).as_deref(),
            Some("rules[1].regex")
        );
        assert_eq!(
            source.key_path(&span("[routing]")).as_deref(),
            Some("routing")
        );
    }
}
