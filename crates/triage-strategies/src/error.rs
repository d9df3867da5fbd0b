//! The strategies crate's one error type.

/// Why a strategy, a rule set or a policy could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum StrategyError {
    /// The text classifier behind the model strategy failed.
    #[error("classifier `{classifier}` failed: {source}")]
    Classifier {
        /// The classifier's name.
        classifier: String,
        /// What it reported.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A keyword table (embedded or from configuration) is malformed.
    #[error("invalid keyword table {origin}: {message}")]
    KeywordTable {
        /// Where the table came from.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// A quality table (embedded, from a file or from configuration) is malformed.
    #[error("invalid quality table {origin}: {message}")]
    QualityTable {
        /// Where the table came from.
        origin: String,
        /// What is wrong, naming the key.
        message: String,
    },
    /// A regular expression in a rule or keyword pattern does not compile.
    #[error("invalid regex `{pattern}`: {source}")]
    Regex {
        /// The pattern as written.
        pattern: String,
        /// The regex crate's complaint.
        #[source]
        source: Box<regex::Error>,
    },
    /// Length buckets are not in increasing order of their bounds.
    #[error("length bucket bounds must increase: {previous} is followed by {next}")]
    LengthBuckets {
        /// The earlier bound.
        previous: u64,
        /// The later, not larger, bound.
        next: u64,
    },
    /// No candidate model survived the policy's filters.
    #[error("no model can serve class `{class}`: {}", rejected.join("; "))]
    NoCandidate {
        /// The class being routed.
        class: triage_types::RouteClass,
        /// Each candidate and why it was filtered out.
        rejected: Vec<String>,
    },
    /// A model named by a route, alias or rule is not usable in the catalog.
    #[error(transparent)]
    Catalog(#[from] triage_catalog::CatalogError),
}
