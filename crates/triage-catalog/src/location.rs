//! Where something is in a catalog file, for error messages and `Model::defined_at`.

use std::fmt;

/// A place in a catalog file: its origin (a path or `embedded catalog.toml`) and a 1-based line
/// and column.
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
