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

/// Reads JSON Lines of `{"id"?, "text", ...}` from `path` (or standard input for `-`) and
/// writes one JSON line per input line, `each` making it. A bad line stops with its line
/// number (exit 2) unless `skip_invalid`, which warns and goes on; a closed stdout
/// (`… | head`) is not a failure.
pub(crate) fn map_lines(
    path: &Path,
    skip_invalid: bool,
    mut each: impl FnMut(Item) -> anyhow::Result<Value>,
) -> anyhow::Result<std::process::ExitCode> {
    use std::io::Write as _;
    use std::ops::ControlFlow;
    let reader = match open(path) {
        Ok(reader) => reader,
        Err(error) => return Ok(crate::commands::output::usage_error(&error)),
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let mut status = std::process::ExitCode::SUCCESS;
    let mut skipped = 0_usize;
    let result = for_each_line(reader, |index, line| {
        let item = match parse_line(index, line) {
            Ok(item) => item,
            Err(problem) => {
                if skip_invalid {
                    skipped += 1;
                    eprintln!("warning: line {} (1-based) skipped: {problem}", index + 1);
                    return Ok(ControlFlow::Continue(()));
                }
                eprintln!(
                    "error: {}: line {} (1-based): {problem}; every line must be a JSON object with a string `text` (use --skip-invalid to skip bad lines)",
                    path.display(),
                    index + 1
                );
                status = std::process::ExitCode::from(crate::commands::EXIT_USAGE);
                return Ok(ControlFlow::Break(()));
            }
        };
        let line = each(item)?;
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
        Ok(ControlFlow::Continue(()))
    });
    let flushed = out.flush();
    let failure = result
        .err()
        .or_else(|| flushed.err().map(anyhow::Error::from));
    if let Some(error) = failure {
        if is_broken_pipe(&error) {
            return Ok(std::process::ExitCode::SUCCESS);
        }
        return Err(error);
    }
    if skipped > 0 {
        eprintln!("warning: {skipped} invalid line(s) skipped");
    }
    Ok(status)
}

/// Whether an error is a closed stdout (`triage classify … | head`), which is not a failure.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || cause
                .downcast_ref::<serde_json::Error>()
                .is_some_and(|json| json.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
    })
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
