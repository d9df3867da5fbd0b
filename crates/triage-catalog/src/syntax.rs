//! Reading catalog TOML into the raw structs; a syntax or schema error names the file, line,
//! column and key (through [`Source`]).

use crate::error::CatalogError;
use crate::location::Source;
use crate::raw::RawCatalog;

/// Deserializes `text`; a TOML or schema error names the file, line, column and key.
pub(crate) fn parse_raw(text: &str, origin: &str) -> Result<RawCatalog, CatalogError> {
    toml::from_str::<RawCatalog>(text).map_err(|error| {
        let source = Source { text, origin };
        let span = error.span().unwrap_or(0..0);
        let key = error.span().and_then(|span| {
            if error.message().starts_with("missing field") {
                source.table_path(&span)
            } else {
                source.key_path(&span)
            }
        });
        CatalogError::Syntax {
            location: Box::new(source.span(&span)),
            key,
            message: error.message().trim().to_owned(),
        }
    })
}
