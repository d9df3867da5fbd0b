//! Reading catalog TOML into the raw structs, and turning byte offsets into file, line, column
//! and key path for messages.

use crate::error::CatalogError;
use crate::location::Location;
use crate::raw::RawCatalog;

/// Deserializes `text`; a TOML or schema error names the file, line, column and key.
pub(crate) fn parse_raw(text: &str, origin: &str) -> Result<RawCatalog, CatalogError> {
    toml::from_str::<RawCatalog>(text).map_err(|error| {
        let offset = error.span().map_or(0, |span| span.start);
        CatalogError::Syntax {
            location: Box::new(location(text, origin, offset)),
            key: key_path(
                text,
                error.span(),
                error.message().starts_with("missing field"),
            ),
            message: error.message().trim().to_owned(),
        }
    })
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
pub(crate) fn location(text: &str, origin: &str, offset: usize) -> Location {
    let offset = floor_char_boundary(text, offset.min(text.len()));
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    let column = before[line_start..].chars().count() + 1;
    Location {
        origin: origin.to_owned(),
        line,
        column,
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// The dotted key path at `span`, like `models[3].pricing.input`: the table header in force
/// (with the entry's index for arrays of tables) followed by the key on the error's line.
///
/// The TOML parser reports a byte span but not the key path, so the path is rebuilt from the
/// text: good for the one-key-per-line files catalogs are, `None` when nothing fits. For a
/// missing field the span covers the table that lacks it, so the path names that table.
fn key_path(text: &str, span: Option<std::ops::Range<usize>>, missing: bool) -> Option<String> {
    let span = span?;
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

    // The key on this line: the text before `=` when the span is on the value, or the spanned
    // text itself when the span is on the key.
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

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '"')
}

/// The last table header before `before`, as a path; arrays of tables get their entry index.
fn current_header(before: &str) -> Option<String> {
    let mut header = None;
    let mut array_counts: std::collections::HashMap<String, usize> =
        std::collections::HashMap::new();
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
    let well_formed = !name.is_empty() && name.chars().all(|c| is_key_char(c) || c == ' ');
    well_formed.then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_count_lines_and_characters() {
        let text = "a = 1\nnamé = \"x\"\nb = 2\n";
        let at = |needle: &str| {
            let location = location(text, "f.toml", text.find(needle).unwrap());
            (location.line, location.column)
        };
        assert_eq!(at("a"), (1, 1));
        assert_eq!(at("\"x\""), (2, 8), "columns count characters, not bytes");
        assert_eq!(at("b"), (3, 1));
        assert_eq!(location(text, "f.toml", text.len() + 10).line, 4);
    }

    #[test]
    fn key_paths_follow_headers_and_array_entries() {
        let text =
            "[providers.x]\nprotocol = 1\n[[models]]\nid = 1\n[[models]]\npricing.input = 2\n";
        let span = |needle: &str| {
            let start = text.find(needle).unwrap();
            Some(start..start + needle.len())
        };
        assert_eq!(
            key_path(text, span("1\n[["), false).as_deref(),
            Some("providers.x.protocol")
        );
        assert_eq!(
            key_path(text, span("id ="), false).as_deref(),
            Some("models[0].id")
        );
        assert_eq!(
            key_path(text, span("2"), false).as_deref(),
            Some("models[1].pricing.input")
        );
        assert_eq!(
            key_path(text, span("pricing"), true).as_deref(),
            Some("models[1].pricing")
        );
        assert_eq!(key_path(text, None, false), None);
    }
}
