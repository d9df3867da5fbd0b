//! The keyword strategy: weighted words, word pairs, phrases and regular expressions per class,
//! summed into per-class scores. Defaults are learned from labelled data (`keywords.toml`).

use std::collections::{BTreeMap, HashMap};

use regex::{Regex, RegexBuilder};
use serde::Deserialize;
use triage_types::{ChatRequest, RouteClass};

use crate::strategy::softmax;
use crate::text::{FeatureWindow, features, windowed_words};
use crate::{Classification, Strategy, StrategyError};

/// The embedded default table, written by `cargo xtask learn-keywords`.
pub const EMBEDDED_KEYWORDS: &str = include_str!("keywords.toml");

/// Where [`EMBEDDED_KEYWORDS`] says it came from in messages.
pub const EMBEDDED_ORIGIN: &str = "embedded keywords.toml";

/// How many contributing keywords a reason names.
const REASON_KEYWORDS: usize = 4;

/// A keyword table file as written: the embedded default or a user's.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeywordFile {
    /// The class chosen when nothing matches.
    pub default_class: String,
    /// Which words of a long prompt are read.
    pub window: WindowSpec,
    /// Class name → a constant added to the class's score once anything matched (a scaled log
    /// prior, so that rare classes need stronger evidence).
    #[serde(default)]
    pub bias: BTreeMap<String, f32>,
    /// Class name → keyword (a word, two words, or a longer phrase) → weight.
    #[serde(default)]
    pub weights: BTreeMap<String, BTreeMap<String, f32>>,
    /// Case-insensitive regular expressions, matched against the text (its first and last
    /// 8 KiB when it is longer).
    #[serde(default)]
    pub patterns: Vec<PatternSpec>,
}

/// The feature window as written in a keyword file.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    /// Words kept from the start of the prompt.
    pub head: usize,
    /// Words kept from the end of the prompt.
    pub tail: usize,
}

/// One regular-expression rule of a keyword table, as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatternSpec {
    /// The class it votes for.
    pub class: String,
    /// The expression, matched case-insensitively.
    pub regex: String,
    /// What a match adds to the class's score.
    pub weight: f32,
    /// A few words for `--explain` (`a code block`).
    pub why: String,
}

/// Changes a user makes to a keyword table (from configuration): per-class keyword weights
/// added or replaced (a weight of 0 removes the keyword), and extra patterns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeywordOverrides {
    /// Class → keyword → weight.
    pub weights: BTreeMap<RouteClass, BTreeMap<String, f32>>,
    /// Extra patterns, compiled.
    pub patterns: Vec<KeywordPattern>,
}

/// A compiled pattern of a keyword table.
#[derive(Debug, Clone)]
pub struct KeywordPattern {
    /// The class it votes for.
    pub class: RouteClass,
    /// The compiled, case-insensitive expression.
    pub regex: Regex,
    /// What a match adds.
    pub weight: f32,
    /// A few words for `--explain`.
    pub why: String,
}

impl PartialEq for KeywordPattern {
    fn eq(&self, other: &Self) -> bool {
        self.class == other.class
            && self.regex.as_str() == other.regex.as_str()
            && self.weight == other.weight
            && self.why == other.why
    }
}

impl KeywordPattern {
    /// Compiles a pattern, case-insensitively.
    pub fn new(
        class: RouteClass,
        pattern: &str,
        weight: f32,
        why: impl Into<String>,
    ) -> Result<Self, StrategyError> {
        Ok(KeywordPattern {
            class,
            regex: case_insensitive(pattern)?,
            weight,
            why: why.into(),
        })
    }
}

/// Compiles a case-insensitive regular expression, with an error naming the pattern.
pub fn case_insensitive(pattern: &str) -> Result<Regex, StrategyError> {
    RegexBuilder::new(pattern)
        .case_insensitive(true)
        .build()
        .map_err(|source| StrategyError::Regex {
            pattern: pattern.to_owned(),
            source: Box::new(source),
        })
}

/// A validated keyword table, ready to score prompts.
#[derive(Debug, Clone)]
pub struct KeywordTable {
    default_class: RouteClass,
    bias: [f32; 6],
    window: FeatureWindow,
    /// Single words and word pairs: looked up per feature.
    terms: HashMap<String, [f32; 6]>,
    /// Phrases of three or more words: searched in the window's text.
    phrases: Vec<(String, [f32; 6])>,
    patterns: Vec<KeywordPattern>,
}

impl KeywordTable {
    /// The embedded default table.
    pub fn embedded() -> Result<Self, StrategyError> {
        KeywordTable::from_toml(EMBEDDED_KEYWORDS, EMBEDDED_ORIGIN)
    }

    /// Reads a keyword table from TOML text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, StrategyError> {
        let file: KeywordFile =
            toml::from_str(text).map_err(|error| StrategyError::KeywordTable {
                origin: origin.to_owned(),
                message: error.message().to_owned(),
            })?;
        KeywordTable::from_file(&file, origin)
    }

    /// Validates a parsed keyword file.
    pub fn from_file(file: &KeywordFile, origin: &str) -> Result<Self, StrategyError> {
        let class = |name: &str| {
            name.parse::<RouteClass>()
                .map_err(|error| StrategyError::KeywordTable {
                    origin: origin.to_owned(),
                    message: error.to_string(),
                })
        };
        let mut table = KeywordTable {
            default_class: class(&file.default_class)?,
            bias: [0.0; 6],
            window: FeatureWindow {
                head: file.window.head,
                tail: file.window.tail,
            },
            terms: HashMap::new(),
            phrases: Vec::new(),
            patterns: Vec::new(),
        };
        for (name, bias) in &file.bias {
            table.bias[class(name)?.index()] = *bias;
        }
        for (name, keywords) in &file.weights {
            let class = class(name)?;
            for (keyword, weight) in keywords {
                table.set(class, keyword, *weight);
            }
        }
        for pattern in &file.patterns {
            table.patterns.push(KeywordPattern::new(
                class(&pattern.class)?,
                &pattern.regex,
                pattern.weight,
                pattern.why.clone(),
            )?);
        }
        Ok(table)
    }

    /// Applies a user's changes.
    pub fn apply(&mut self, overrides: &KeywordOverrides) {
        for (class, keywords) in &overrides.weights {
            for (keyword, weight) in keywords {
                self.set(*class, keyword, *weight);
            }
        }
        self.patterns.extend(overrides.patterns.iter().cloned());
    }

    /// Sets one keyword's weight for one class; 0 removes it. The keyword is normalised to
    /// the strategy's words, so `"Write a"` and `"write  a"` are the same keyword.
    pub fn set(&mut self, class: RouteClass, keyword: &str, weight: f32) {
        let normal = crate::text::words(keyword).join(" ");
        if normal.is_empty() {
            return;
        }
        if normal.matches(' ').count() < 2 {
            let entry = self.terms.entry(normal.clone()).or_insert([0.0; 6]);
            entry[class.index()] = weight;
            if entry.iter().all(|value| *value == 0.0) {
                self.terms.remove(&normal);
            }
            return;
        }
        match self
            .phrases
            .iter()
            .position(|(phrase, _)| *phrase == normal)
        {
            Some(at) => {
                self.phrases[at].1[class.index()] = weight;
                if self.phrases[at].1.iter().all(|value| *value == 0.0) {
                    self.phrases.remove(at);
                }
            }
            None if weight != 0.0 => {
                let mut weights = [0.0; 6];
                weights[class.index()] = weight;
                self.phrases.push((normal, weights));
            }
            None => {}
        }
    }

    /// The class chosen when nothing matches.
    pub fn default_class(&self) -> RouteClass {
        self.default_class
    }

    /// How many keywords (words, pairs and phrases) and patterns the table holds.
    pub fn len(&self) -> usize {
        self.terms.len() + self.phrases.len() + self.patterns.len()
    }

    /// Whether the table holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Scores a text: per-class bias plus the weights that fired, and what fired.
    pub fn score(&self, text: &str) -> KeywordScore {
        let mut raw = self.bias;
        let mut hits: Vec<Hit> = Vec::new();
        for feature in features(text, self.window) {
            if let Some(weights) = self.terms.get(&feature) {
                add(&mut raw, weights);
                hits.push(Hit {
                    what: format!("`{feature}`"),
                    weights: *weights,
                });
            }
        }
        if !self.phrases.is_empty() {
            let joined = format!(" {} ", windowed_words(text, self.window).join(" "));
            for (phrase, weights) in &self.phrases {
                if joined.contains(&format!(" {phrase} ")) {
                    add(&mut raw, weights);
                    hits.push(Hit {
                        what: format!("`{phrase}`"),
                        weights: *weights,
                    });
                }
            }
        }
        let (head, tail) = crate::text::scanned_parts(text);
        for pattern in &self.patterns {
            let matched = pattern.regex.is_match(head)
                || tail.is_some_and(|tail| pattern.regex.is_match(tail));
            if matched {
                raw[pattern.class.index()] += pattern.weight;
                let mut weights = [0.0; 6];
                weights[pattern.class.index()] = pattern.weight;
                hits.push(Hit {
                    what: pattern.why.clone(),
                    weights,
                });
            }
        }
        KeywordScore { raw, hits }
    }
}

fn add(raw: &mut [f32; 6], weights: &[f32; 6]) {
    for (slot, weight) in raw.iter_mut().zip(weights) {
        *slot += weight;
    }
}

/// What a keyword table made of one text.
#[derive(Debug, Clone, PartialEq)]
pub struct KeywordScore {
    /// Per-class bias plus fired weights, indexed by [`RouteClass::index`].
    pub raw: [f32; 6],
    /// Each keyword or pattern that fired, with its per-class weights.
    pub hits: Vec<Hit>,
}

/// One keyword or pattern that fired.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The keyword in backticks, or the pattern's description.
    pub what: String,
    /// Its weight per class.
    pub weights: [f32; 6],
}

/// Classifies by keyword table.
#[derive(Debug, Clone)]
pub struct KeywordStrategy {
    table: KeywordTable,
}

impl KeywordStrategy {
    /// A strategy over a table.
    pub fn new(table: KeywordTable) -> Self {
        KeywordStrategy { table }
    }

    /// The strategy over the embedded default table.
    pub fn embedded() -> Result<Self, StrategyError> {
        Ok(KeywordStrategy::new(KeywordTable::embedded()?))
    }

    /// The table it uses.
    pub fn table(&self) -> &KeywordTable {
        &self.table
    }

    /// Classifies a text (the whole conversation's text).
    pub fn classify_text(&self, text: &str) -> Classification {
        let KeywordScore { mut raw, hits } = self.table.score(text);
        let default = self.table.default_class;
        if hits.is_empty() {
            raw = [0.0; 6];
            raw[default.index()] = 1.0;
            return Classification::from_scores(
                softmax(raw),
                vec![format!("keyword: nothing matched; default class {default}")],
            );
        }
        let verdict = Classification::from_scores(softmax(raw), Vec::new());
        let class = verdict.class;
        let mut for_class: Vec<(&str, f32)> = hits
            .iter()
            .map(|hit| (hit.what.as_str(), hit.weights[class.index()]))
            .filter(|(_, weight)| *weight > 0.0)
            .collect();
        for_class.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
        let named: Vec<String> = for_class
            .iter()
            .take(REASON_KEYWORDS)
            .map(|(what, weight)| format!("{what} +{weight:.2}"))
            .collect();
        let more = for_class.len().saturating_sub(REASON_KEYWORDS);
        let mut reason = if named.is_empty() {
            format!(
                "keyword: no keyword for {class}; it wins on its prior ({:.2})",
                raw[class.index()]
            )
        } else {
            format!(
                "keyword: {class} scored {:.2} from {}",
                raw[class.index()],
                named.join(", ")
            )
        };
        if more > 0 {
            reason.push_str(&format!(" and {more} more"));
        }
        let (runner_up, _) = verdict.runner_up();
        reason.push_str(&format!(
            "; runner-up {runner_up} {:.2}",
            raw[runner_up.index()]
        ));
        Classification {
            reasons: vec![reason],
            ..verdict
        }
    }
}

impl Strategy for KeywordStrategy {
    fn name(&self) -> &str {
        "keyword"
    }

    fn classify(&self, request: &ChatRequest) -> Result<Classification, StrategyError> {
        Ok(self.classify_text(&request.all_text()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(prompt: &str, expect: RouteClass) {
        let strategy = KeywordStrategy::embedded().unwrap();
        let verdict = strategy.classify_text(prompt);
        assert_eq!(verdict.class, expect, "{prompt}: {:?}", verdict.reasons);
        assert!((0.0..=1.0).contains(&verdict.confidence));
        let sum: f32 = verdict.scores.0.iter().sum();
        assert!((sum - 1.0).abs() < 1e-4);
    }

    #[test]
    fn embedded_table_parses_and_is_not_empty() {
        let table = KeywordTable::embedded().unwrap();
        assert!(table.len() > 100);
    }

    #[test]
    fn classifies_clear_prompts() {
        let table = [
            ("Write a poem about the sea", RouteClass::Critical),
            (
                "Write a short story about a dragon who loves tea",
                RouteClass::Critical,
            ),
            (
                "Translate this sentence into French: where is the station?",
                RouteClass::Transform,
            ),
            (
                "Summarize the following article in three sentences: ...",
                RouteClass::Transform,
            ),
            (
                "Write a Python function that reverses a linked list",
                RouteClass::Analyze,
            ),
            (
                "Fix this bug in my JavaScript code:\n```js\nconst x = ;\n```",
                RouteClass::Analyze,
            ),
            ("What is the capital of Australia?", RouteClass::Faq),
            ("what is the boiling point of water", RouteClass::Faq),
            (
                "If a train travels 60 miles per hour for 3 hours and then 40 miles per hour for 2 hours, how many miles does it travel in total?",
                RouteClass::Reason,
            ),
            (
                "Extract all the email addresses and phone numbers from this text and return them as JSON",
                RouteClass::Extract,
            ),
            (
                "Classify the sentiment of this review as positive or negative: the food was cold",
                RouteClass::Extract,
            ),
        ];
        for (prompt, expect) in table {
            check(prompt, expect);
        }
    }

    #[test]
    fn nothing_matched_gives_the_default_class() {
        let strategy = KeywordStrategy::embedded().unwrap();
        let verdict = strategy.classify_text("");
        assert_eq!(verdict.class, strategy.table().default_class());
        assert!(verdict.reasons[0].contains("nothing matched"));
    }

    #[test]
    fn overrides_add_remove_and_pattern() {
        let mut table = KeywordTable::from_toml(
            "default_class = \"faq\"\n[window]\nhead = 5\ntail = 5\n[weights.analyze]\nlawyer = 1.0\n",
            "test",
        )
        .unwrap();
        let mut overrides = KeywordOverrides::default();
        overrides
            .weights
            .entry(RouteClass::Critical)
            .or_default()
            .insert("Breach of Contract Claim".into(), 5.0);
        overrides
            .weights
            .entry(RouteClass::Analyze)
            .or_default()
            .insert("lawyer".into(), 0.0);
        overrides.patterns.push(
            KeywordPattern::new(RouteClass::Reason, r"\d+\s*\+\s*\d+", 2.0, "a sum").unwrap(),
        );
        table.apply(&overrides);
        let strategy = KeywordStrategy::new(table);
        let verdict = strategy.classify_text("My lawyer says breach of contract claim");
        assert_eq!(verdict.class, RouteClass::Critical);
        assert!(
            verdict.reasons[0].contains("`breach of contract claim` +5.00"),
            "{:?}",
            verdict.reasons
        );
        assert_eq!(
            strategy.classify_text("what is 2 + 2").class,
            RouteClass::Reason
        );
        assert_eq!(strategy.classify_text("lawyer").class, RouteClass::Faq);
    }

    #[test]
    fn bad_tables_are_errors() {
        let error = KeywordTable::from_toml(
            "default_class = \"nope\"\n[window]\nhead = 1\ntail = 1\n",
            "x.toml",
        )
        .unwrap_err();
        assert!(error.to_string().contains("x.toml"), "{error}");
        let error = KeywordTable::from_toml("default_class = \"faq\"\n[window]\nhead = 1\ntail = 1\n[[patterns]]\nclass = \"faq\"\nregex = \"(\"\nweight = 1.0\nwhy = \"x\"\n", "x.toml").unwrap_err();
        assert!(error.to_string().contains("invalid regex"), "{error}");
    }
}
