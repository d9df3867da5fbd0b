//! User rules, evaluated before any strategy: a prompt that contains a phrase or matches a
//! regular expression is forced to a class or to a model.

use regex::Regex;
use triage_types::{ChatRequest, RouteClass};

use crate::StrategyError;
use crate::keyword::case_insensitive;

/// What a rule looks for, case-insensitively, in the whole conversation's text.
#[derive(Debug, Clone)]
pub enum RuleMatcher {
    /// A plain substring (stored lowercased).
    Contains(String),
    /// A regular expression (compiled case-insensitive).
    Regex(Regex),
}

impl RuleMatcher {
    /// A substring matcher.
    pub fn contains(needle: &str) -> Self {
        RuleMatcher::Contains(needle.to_lowercase())
    }

    /// A regular-expression matcher, compiled case-insensitively.
    pub fn regex(pattern: &str) -> Result<Self, StrategyError> {
        Ok(RuleMatcher::Regex(case_insensitive(pattern)?))
    }

    /// Whether the (already lowercased, for substrings) text matches.
    fn matches(&self, text: &str, lowercase: &str) -> bool {
        match self {
            RuleMatcher::Contains(needle) => lowercase.contains(needle.as_str()),
            RuleMatcher::Regex(regex) => regex.is_match(text),
        }
    }

    /// The matcher as written, for reasons: `contains "contract"` or `regex "…"`.
    pub fn describe(&self) -> String {
        match self {
            RuleMatcher::Contains(needle) => format!("contains {needle:?}"),
            RuleMatcher::Regex(regex) => format!("regex {:?}", regex.as_str()),
        }
    }
}

/// What a matching rule decides. At least one of the two is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleAction {
    /// Force this class (no strategy runs).
    pub class: Option<RouteClass>,
    /// Force this model as the primary (a catalog id or a route alias).
    pub model: Option<String>,
}

/// One user rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Its name in reasons (from configuration, or `rule 1`, `rule 2`, …).
    pub name: String,
    /// What it looks for.
    pub matcher: RuleMatcher,
    /// What it decides.
    pub action: RuleAction,
}

/// Rules in order; the first match wins.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    rules: Vec<Rule>,
}

impl Rules {
    /// Rules in evaluation order.
    pub fn new(rules: Vec<Rule>) -> Self {
        Rules { rules }
    }

    /// The rules, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The first rule matching the request's text (every message, system prompt included).
    pub fn first_match(&self, request: &ChatRequest) -> Option<&Rule> {
        if self.rules.is_empty() {
            return None;
        }
        let text = request.all_text();
        let lowercase = text.to_lowercase();
        self.rules
            .iter()
            .find(|rule| rule.matcher.matches(&text, &lowercase))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_matching_rule_wins_case_insensitively() {
        let rules = Rules::new(vec![
            Rule {
                name: "legal".into(),
                matcher: RuleMatcher::contains("Contract"),
                action: RuleAction {
                    class: Some(RouteClass::Critical),
                    model: None,
                },
            },
            Rule {
                name: "tickets".into(),
                matcher: RuleMatcher::regex(r"\bTICKET-\d+\b").unwrap(),
                action: RuleAction {
                    class: None,
                    model: Some("gpt-4o-mini".into()),
                },
            },
        ]);
        let hit = |prompt: &str| {
            rules
                .first_match(&ChatRequest::from_prompt(prompt))
                .map(|rule| rule.name.as_str())
        };
        assert_eq!(hit("review this CONTRACT for ticket-12"), Some("legal"));
        assert_eq!(hit("close ticket-12 please"), Some("tickets"));
        assert_eq!(hit("hello"), None);
        assert_eq!(
            rules.iter().next().unwrap().matcher.describe(),
            "contains \"contract\""
        );
    }
}
