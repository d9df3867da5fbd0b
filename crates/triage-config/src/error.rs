//! The config crate's one error type; every variant that comes from a file names it, with the
//! line, column and key.

use std::path::PathBuf;

use crate::Location;

/// Why a configuration could not be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The path.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML, or has an unknown key, a missing one, or a wrong type.
    #[error("{location}: invalid config{}: {message}", key_suffix(key.as_deref()))]
    Syntax {
        /// Where.
        location: Location,
        /// The dotted key path, when one could be found.
        key: Option<String>,
        /// The parser's description.
        message: String,
    },
    /// A value is well-formed TOML but not acceptable (an unknown class, a bad regex, a rule
    /// without an action).
    #[error("{location}: invalid config at key `{key}`: {message}")]
    Invalid {
        /// Where.
        location: Location,
        /// The dotted key path.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A model named by a route, alias or rule is unknown to the catalog or unusable.
    #[error("{location}: key `{key}` names model `{model}`: {reason}")]
    Model {
        /// Where.
        location: Location,
        /// The dotted key path.
        key: String,
        /// The model id written.
        model: String,
        /// Why it cannot be used (the catalog's message, with suggestions).
        reason: String,
    },
    /// The user catalog (a file or inline `[catalog]` entries) is invalid.
    #[error(transparent)]
    Catalog(#[from] triage_catalog::CatalogError),
    /// The keyword or length settings do not make a valid strategy.
    #[error("{origin}: {source}")]
    Strategy {
        /// The config file.
        origin: String,
        /// The strategy crate's complaint.
        #[source]
        source: triage_strategies::StrategyError,
    },
}

fn key_suffix(key: Option<&str>) -> String {
    match key {
        Some(key) => format!(" at key `{key}`"),
        None => String::new(),
    }
}
