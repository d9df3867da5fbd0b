//! The six routing classes, ordered from the cheapest kind of request to the most demanding.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a request asks the model to do, and so how capable (and costly) a model it needs.
///
/// Definitions and hard cases: `LABELS.md` in the project's data. The order of the variants is
/// the order of the routing table (`extract` first, `critical` last); it is *not* a price order,
/// which depends on the policy's models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteClass {
    /// Classification, extraction, formatting of supplied text or data.
    Extract,
    /// FAQ answers and simple Q&A.
    Faq,
    /// Summarisation, translation, rewriting of supplied text.
    Transform,
    /// Analysis, explanation in depth, code generation.
    Analyze,
    /// Multi-step reasoning, math, planning under constraints.
    Reason,
    /// Creative work and high-stakes decisions.
    Critical,
}

impl RouteClass {
    /// Every class, in routing-table order.
    pub const ALL: [RouteClass; 6] = [
        RouteClass::Extract,
        RouteClass::Faq,
        RouteClass::Transform,
        RouteClass::Analyze,
        RouteClass::Reason,
        RouteClass::Critical,
    ];

    /// The class's identifier as it appears in data files, config and JSON output.
    pub const fn as_str(self) -> &'static str {
        match self {
            RouteClass::Extract => "extract",
            RouteClass::Faq => "faq",
            RouteClass::Transform => "transform",
            RouteClass::Analyze => "analyze",
            RouteClass::Reason => "reason",
            RouteClass::Critical => "critical",
        }
    }

    /// The class's position in [`RouteClass::ALL`], for indexing per-class arrays.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// A one-line description, as in the routing table.
    pub const fn description(self) -> &'static str {
        match self {
            RouteClass::Extract => "classification, extraction, formatting",
            RouteClass::Faq => "FAQ responses, simple Q&A",
            RouteClass::Transform => "summarization, translation",
            RouteClass::Analyze => "analysis, code generation",
            RouteClass::Reason => "complex reasoning, planning",
            RouteClass::Critical => "critical decisions, creative work",
        }
    }
}

impl fmt::Display for RouteClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no routing class.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown routing class `{given}` (expected one of: extract, faq, transform, analyze, reason, critical)"
)]
pub struct ParseClassError {
    /// The text that was given.
    pub given: String,
}

impl FromStr for RouteClass {
    type Err = ParseClassError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        RouteClass::ALL
            .into_iter()
            .find(|class| class.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| ParseClassError {
                given: s.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_str_and_serde() {
        for (index, class) in RouteClass::ALL.into_iter().enumerate() {
            assert_eq!(class.index(), index);
            assert_eq!(class.as_str().parse::<RouteClass>(), Ok(class));
            let json = serde_json::to_string(&class).unwrap();
            assert_eq!(json, format!("\"{}\"", class.as_str()));
            assert_eq!(serde_json::from_str::<RouteClass>(&json).unwrap(), class);
        }
    }

    #[test]
    fn rejects_unknown_names() {
        let error = "expert".parse::<RouteClass>().unwrap_err();
        assert_eq!(error.given, "expert");
        assert!(error.to_string().contains("extract, faq"));
    }
}
