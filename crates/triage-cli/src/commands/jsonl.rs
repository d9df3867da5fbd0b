//! Reading JSON Lines of prompts for `classify` and `eval`: one object per line with a string
//! `text` (and, for eval, a `label`). Blank lines are skipped; line numbers in messages are
//! 1-based.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde_json::Value;

/// Opens `path`, or standard input for `-`.
pub(crate) fn open(path: &Path) -> anyhow::Result<Box<dyn BufRead>> {
    if path == Path::new("-") {
        return Ok(Box::new(BufReader::new(std::io::stdin())));
    }
    let file = File::open(path)
        .map_err(|error| anyhow::anyhow!("cannot open {}: {error}", path.display()))?;
    Ok(Box::new(BufReader::with_capacity(64 * 1024, file)) as Box<dyn BufRead>)
}

/// One usable input line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Item {
    /// The 0-based line number.
    pub(crate) index: usize,
    /// The object's `id`, if it has one.
    pub(crate) id: Option<Value>,
    /// Its `text`.
    pub(crate) text: String,
    /// The whole object, for other fields.
    pub(crate) object: serde_json::Map<String, Value>,
}

/// Why a line is unusable (the message has no line number; the caller adds it).
pub(crate) fn parse_line(index: usize, line: &str) -> Result<Item, String> {
    let value: Value =
        serde_json::from_str(line).map_err(|error| format!("not valid JSON ({error})"))?;
    let Value::Object(mut object) = value else {
        return Err("not a JSON object".to_owned());
    };
    let text = match object.get("text") {
        Some(Value::String(text)) => text.clone(),
        Some(_) => return Err("`text` is not a string".to_owned()),
        None => return Err("no `text` field".to_owned()),
    };
    let id = object.remove("id");
    Ok(Item {
        index,
        id,
        text,
        object,
    })
}

/// Reads lines, calling `each` with every non-blank line's 0-based index and text; stops at
/// the first read error.
pub(crate) fn for_each_line(
    mut reader: impl BufRead,
    mut each: impl FnMut(usize, &str) -> anyhow::Result<std::ops::ControlFlow<()>>,
) -> anyhow::Result<()> {
    let mut line = String::new();
    let mut index = 0;
    loop {
        line.clear();
        let read = reader
            .read_line(&mut line)
            .map_err(|error| anyhow::anyhow!("cannot read line {}: {error}", index + 1))?;
        if read == 0 {
            return Ok(());
        }
        let trimmed = line.trim();
        if !trimmed.is_empty() && each(index, trimmed)?.is_break() {
            return Ok(());
        }
        index += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_need_an_object_with_string_text() {
        let item = parse_line(3, r#"{"id": "a", "text": "hi", "label": "faq"}"#).unwrap();
        assert_eq!((item.index, item.text.as_str()), (3, "hi"));
        assert_eq!(item.id, Some(Value::from("a")));
        assert_eq!(parse_line(0, "[1]").unwrap_err(), "not a JSON object");
        assert_eq!(
            parse_line(0, r#"{"text": 3}"#).unwrap_err(),
            "`text` is not a string"
        );
        assert_eq!(
            parse_line(0, r#"{"id": 1}"#).unwrap_err(),
            "no `text` field"
        );
        assert!(
            parse_line(0, "{")
                .unwrap_err()
                .starts_with("not valid JSON")
        );
    }
}
