//! Quality checks on an answer: empty, too short, cut off, refusal-shaped, invalid JSON or
//! failing a schema. Configurable per route; some can decide on the first part of a stream.

use std::sync::Arc;

use regex::RegexSet;
use serde::{Deserialize, Serialize};
use triage_types::{ChatRequest, ChatResponse, FinishReason, ResponseFormat, RouteClass};

/// Refusal and error-shaped openings that fail the refusal check unless a route configures its
/// own list. Case-insensitive regular expressions, matched against the first
/// [`REFUSAL_WINDOW_CHARS`] characters of the answer.
pub const DEFAULT_REFUSAL_PATTERNS: &[&str] = &[
    r"^\W*(i'?m sorry|sorry|unfortunately|apologies)?[,.!]?\s*(but\s+)?i\s*(can'?t|cannot|can not|am unable to|'?m unable to|won'?t be able to|am not able to|'?m not able to)\s+(help|assist|comply|provide|do that|answer|fulfill)",
    r"^\W*i'?m sorry,? but (i|that|this)\b",
    r"\bas an ai( language)? model\b",
    r"^\W*as an ai\b",
    r"^\W*(error|internal server error|rate limit exceeded|service unavailable)\b\s*[:\d]",
    r#"^\s*\{\s*"error"\s*:"#,
];

/// How much of the start of an answer the refusal patterns look at: refusals come first, and a
/// long useful answer that quotes such a phrase later should pass.
pub const REFUSAL_WINDOW_CHARS: usize = 300;

/// The longest default minimum answer length, however long the request.
pub const MAX_DEFAULT_MIN_CHARS: usize = 200;

/// Per-route quality-check settings as written in `triage.toml` (`[fallback.checks]`, and
/// `[routes.<class>.checks]` to override some of them for one route). Every field is optional;
/// an unset field inherits from the level above, and finally from the built-in default given
/// on each field.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChecksConfig {
    /// Fail an answer with no text (and no tool calls). Default `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty: Option<bool>,
    /// The minimum answer length in characters. Unset: a default that scales with the request
    /// and its class (see [`default_min_chars`]); `0` turns the check off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_chars: Option<usize>,
    /// Fail an answer cut off by the output-token limit (`finish_reason` length) or ended by a
    /// content filter. Default `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut_off: Option<bool>,
    /// Fail answers that open like a refusal or an error message. Default `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<bool>,
    /// The refusal patterns (case-insensitive regular expressions); replaces
    /// [`DEFAULT_REFUSAL_PATTERNS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal_patterns: Option<Vec<String>>,
    /// When the request asks for JSON, fail an answer that is not valid JSON or that fails the
    /// request's JSON Schema (or [`ChecksConfig::json_schema`]). Default `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<bool>,
    /// A JSON Schema every JSON answer on this route must satisfy, when the request carries
    /// none of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_schema: Option<serde_json::Value>,
    /// The optional judge: a cheap model grades the answer. Off by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<JudgeConfig>,
}

/// The judge check's settings (`[fallback.checks.judge]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JudgeConfig {
    /// Whether to run it. Default `false`.
    #[serde(default)]
    pub enabled: bool,
    /// The catalog id of the grading model (a cheap one).
    pub model: String,
    /// The rubric; the default asks whether the answer addresses the request correctly and
    /// completely.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rubric: Option<String>,
}

impl ChecksConfig {
    /// This configuration with every field `other` sets taking precedence: route overrides
    /// on top of the `[fallback.checks]` defaults.
    pub fn merged_with(&self, other: &ChecksConfig) -> ChecksConfig {
        ChecksConfig {
            empty: other.empty.or(self.empty),
            min_chars: other.min_chars.or(self.min_chars),
            cut_off: other.cut_off.or(self.cut_off),
            refusal: other.refusal.or(self.refusal),
            refusal_patterns: other
                .refusal_patterns
                .clone()
                .or_else(|| self.refusal_patterns.clone()),
            json: other.json.or(self.json),
            json_schema: other
                .json_schema
                .clone()
                .or_else(|| self.json_schema.clone()),
            judge: other.judge.clone().or_else(|| self.judge.clone()),
        }
    }
}

/// Why an answer was not good enough.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "check", rename_all = "snake_case")]
pub enum QualityFailure {
    /// No text and no tool calls.
    #[error("empty answer")]
    Empty,
    /// Shorter than the minimum for this request.
    #[error("answer too short ({chars} < {min_chars} characters)")]
    TooShort {
        /// The answer's length in characters (trimmed).
        chars: usize,
        /// The minimum it had to reach.
        min_chars: usize,
    },
    /// The output-token limit cut the answer off.
    #[error("answer cut off by the output-token limit")]
    CutOff,
    /// A content filter ended the answer.
    #[error("answer ended by a content filter")]
    Filtered,
    /// The answer opens like a refusal or an error message.
    #[error("answer looks like a refusal or an error (pattern `{pattern}`)")]
    Refusal {
        /// The pattern that matched.
        pattern: String,
    },
    /// JSON was requested and the answer is not valid JSON.
    #[error("answer is not valid JSON: {message}")]
    InvalidJson {
        /// The parser's message.
        message: String,
    },
    /// The JSON answer fails the schema.
    #[error("answer fails the JSON schema: {message}")]
    SchemaMismatch {
        /// The validator's first error.
        message: String,
    },
    /// The judge model graded the answer as failing.
    #[error("the judge rejected the answer: {verdict}")]
    JudgeRejected {
        /// What the judge said (first line).
        verdict: String,
    },
}

impl QualityFailure {
    /// A short, stable name for the check that failed (`empty`, `cut_off`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            QualityFailure::Empty => "empty",
            QualityFailure::TooShort { .. } => "too_short",
            QualityFailure::CutOff => "cut_off",
            QualityFailure::Filtered => "filtered",
            QualityFailure::Refusal { .. } => "refusal",
            QualityFailure::InvalidJson { .. } => "invalid_json",
            QualityFailure::SchemaMismatch { .. } => "schema_mismatch",
            QualityFailure::JudgeRejected { .. } => "judge_rejected",
        }
    }
}

/// The judge's settings once validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JudgeSettings {
    /// The grading model's catalog id.
    pub model: String,
    /// The rubric sent with every grading request.
    pub rubric: String,
}

/// The rubric the judge uses unless configured otherwise.
pub const DEFAULT_JUDGE_RUBRIC: &str = "Does the answer address the request correctly and \
completely, without refusing, and in the form the request asks for?";

/// A validated, compiled set of quality checks for one route.
#[derive(Debug, Clone)]
pub struct QualityChecks {
    empty: bool,
    min_chars: Option<usize>,
    cut_off: bool,
    refusal: Option<RegexSet>,
    json: bool,
    /// `[fallback.checks] json_schema`, compiled once at validation.
    json_schema: Option<Arc<jsonschema::Validator>>,
    judge: Option<JudgeSettings>,
}

/// Compiles a JSON Schema, or says why it is not one; the gateway checks a request's
/// `response_format` schema with it while parsing, so a bad schema is a 400 before any
/// upstream call.
pub fn compile_json_schema(
    schema: &serde_json::Value,
) -> Result<Arc<jsonschema::Validator>, String> {
    jsonschema::validator_for(schema)
        .map(Arc::new)
        .map_err(|error| error.to_string())
}

impl Default for QualityChecks {
    fn default() -> Self {
        // The default patterns are fixed and tested; an empty set is the harmless fallback.
        let refusal = compile_patterns(DEFAULT_REFUSAL_PATTERNS).ok();
        QualityChecks {
            empty: true,
            min_chars: None,
            cut_off: true,
            refusal,
            json: true,
            json_schema: None,
            judge: None,
        }
    }
}

impl QualityChecks {
    /// Validates a configuration: compiles the refusal patterns and the schema.
    pub fn from_config(config: &ChecksConfig) -> Result<Self, FallbackConfigError> {
        let refusal = if config.refusal.unwrap_or(true) {
            let set = match &config.refusal_patterns {
                Some(patterns) => compile_patterns(patterns)?,
                None => compile_patterns(DEFAULT_REFUSAL_PATTERNS)?,
            };
            Some(set)
        } else {
            None
        };
        let json_schema = config
            .json_schema
            .as_ref()
            .map(compile_json_schema)
            .transpose()
            .map_err(|error| FallbackConfigError {
                key: "json_schema".to_owned(),
                message: format!("invalid JSON schema: {error}"),
            })?;
        let judge = config
            .judge
            .as_ref()
            .filter(|judge| judge.enabled)
            .map(|judge| JudgeSettings {
                model: judge.model.clone(),
                rubric: judge
                    .rubric
                    .clone()
                    .unwrap_or_else(|| DEFAULT_JUDGE_RUBRIC.to_owned()),
            });
        Ok(QualityChecks {
            empty: config.empty.unwrap_or(true),
            min_chars: config.min_chars,
            cut_off: config.cut_off.unwrap_or(true),
            refusal,
            json: config.json.unwrap_or(true),
            json_schema,
            judge,
        })
    }

    /// Checks that accept everything (for callers that want failover only).
    pub fn none() -> Self {
        QualityChecks {
            empty: false,
            min_chars: Some(0),
            cut_off: false,
            refusal: None,
            json: false,
            json_schema: None,
            judge: None,
        }
    }

    /// The judge to run after the other checks pass, if enabled.
    pub fn judge(&self) -> Option<&JudgeSettings> {
        self.judge.as_ref()
    }

    /// The minimum answer length for this request: the configured one, or
    /// [`default_min_chars`].
    pub fn min_chars_for(&self, request: &ChatRequest, class: Option<RouteClass>) -> usize {
        self.min_chars
            .unwrap_or_else(|| default_min_chars(request, class))
    }

    /// Runs every check that needs the whole answer (all but the judge).
    pub fn check(
        &self,
        request: &ChatRequest,
        class: Option<RouteClass>,
        response: &ChatResponse,
    ) -> Result<(), QualityFailure> {
        if self.cut_off {
            match response.finish_reason {
                FinishReason::Length => return Err(QualityFailure::CutOff),
                FinishReason::ContentFilter => return Err(QualityFailure::Filtered),
                _ => {}
            }
        }
        let text = response.text.trim();
        // A tool call is a complete answer without text.
        if !response.tool_calls.is_empty() && text.is_empty() {
            return Ok(());
        }
        if self.empty && text.is_empty() {
            return Err(QualityFailure::Empty);
        }
        self.check_refusal(text)?;
        if self.json && request.wants_json() {
            return self.check_json(request, text);
        }
        let min_chars = self.min_chars_for(request, class);
        let chars = text.chars().count();
        if chars < min_chars {
            return Err(QualityFailure::TooShort { chars, min_chars });
        }
        Ok(())
    }

    /// Runs the checks that can decide on the first part of a streamed answer: a refusal-shaped
    /// opening, and an answer that cannot become JSON. `prefix` is everything received so far.
    pub fn check_prefix(&self, request: &ChatRequest, prefix: &str) -> Result<(), QualityFailure> {
        let text = prefix.trim_start();
        self.check_refusal(text)?;
        if self.json
            && request.wants_json()
            && let Some(first) = text.chars().next()
        {
            let can_open = match request.response_format {
                Some(ResponseFormat::JsonObject) => first == '{',
                _ => first == '{' || first == '[',
            };
            if !can_open {
                return Err(QualityFailure::InvalidJson {
                    message: format!("answer starts with `{first}`, not a JSON value"),
                });
            }
        }
        Ok(())
    }

    fn check_refusal(&self, text: &str) -> Result<(), QualityFailure> {
        let Some(set) = &self.refusal else {
            return Ok(());
        };
        let window: String = text.chars().take(REFUSAL_WINDOW_CHARS).collect();
        match set.matches(&window).iter().next() {
            Some(index) => Err(QualityFailure::Refusal {
                pattern: strip_case_flag(&set.patterns()[index]).to_owned(),
            }),
            None => Ok(()),
        }
    }

    fn check_json(&self, request: &ChatRequest, text: &str) -> Result<(), QualityFailure> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|error| QualityFailure::InvalidJson {
                message: error.to_string(),
            })?;
        if matches!(request.response_format, Some(ResponseFormat::JsonObject)) && !value.is_object()
        {
            return Err(QualityFailure::InvalidJson {
                message: "expected a JSON object".to_owned(),
            });
        }
        // The request's own schema was checked by the edge; the configured one is compiled.
        let validator = match &request.response_format {
            Some(ResponseFormat::JsonSchema { schema, .. }) => compile_json_schema(schema)
                .map_err(|error| QualityFailure::SchemaMismatch {
                    message: format!("the schema itself is invalid: {error}"),
                })?,
            _ => match &self.json_schema {
                Some(validator) => Arc::clone(validator),
                None => return Ok(()),
            },
        };
        if let Some(error) = validator.iter_errors(&value).next() {
            return Err(QualityFailure::SchemaMismatch {
                message: error.to_string(),
            });
        }
        Ok(())
    }
}

/// The default minimum answer length in characters for a request of a given class: a small
/// base per class plus a share of the request's own length, capped at
/// [`MAX_DEFAULT_MIN_CHARS`].
///
/// | class | base | plus per 1000 request chars |
/// |---|---|---|
/// | extract, faq, reason, unknown | 1 | 0 (a label, "yes", "42" are whole answers) |
/// | transform | 2 | 40 (a summary of 5,000 characters has at least 200) |
/// | analyze | 20 | 20 |
/// | critical | 20 | 20 |
///
/// The defaults are deliberately low: a false "too short" costs a stronger model's price.
pub fn default_min_chars(request: &ChatRequest, class: Option<RouteClass>) -> usize {
    let (base, per_mille) = match class {
        Some(RouteClass::Transform) => (2, 40),
        Some(RouteClass::Analyze | RouteClass::Critical) => (20, 20),
        Some(RouteClass::Extract | RouteClass::Faq | RouteClass::Reason) | None => (1, 0),
    };
    let request_chars = request
        .last_user_text()
        .map_or(0, |text| text.chars().count());
    (base + request_chars * per_mille / 1000).min(MAX_DEFAULT_MIN_CHARS)
}

fn compile_patterns<S: AsRef<str>>(patterns: &[S]) -> Result<RegexSet, FallbackConfigError> {
    let flagged: Vec<String> = patterns
        .iter()
        .map(|pattern| format!("(?i){}", pattern.as_ref()))
        .collect();
    RegexSet::new(&flagged).map_err(|error| FallbackConfigError {
        key: "refusal_patterns".to_owned(),
        message: format!("invalid refusal pattern: {error}"),
    })
}

fn strip_case_flag(pattern: &str) -> &str {
    pattern.strip_prefix("(?i)").unwrap_or(pattern)
}

/// Builds the request that asks a judge model to grade `answer` against `request`.
pub fn judge_request(request: &ChatRequest, answer: &str, rubric: &str) -> ChatRequest {
    let asked = request.all_text();
    let prompt = format!(
        "You grade answers from an AI assistant.\nRubric: {rubric}\n\n<request>\n{asked}\n\
         </request>\n\n<answer>\n{answer}\n</answer>\n\nReply with exactly one word on the \
         first line, PASS or FAIL, then at most one short sentence saying why."
    );
    ChatRequest {
        max_output_tokens: Some(64),
        temperature: Some(0.0),
        ..ChatRequest::from_prompt(prompt)
    }
}

/// Reads a judge's reply: `Some(true)` for PASS, `Some(false)` for FAIL, `None` when it said
/// neither (the caller then accepts the answer: a confused judge must not cost an escalation).
pub fn parse_judge_verdict(reply: &str) -> Option<bool> {
    let first = reply
        .trim_start()
        .split(|c: char| !c.is_ascii_alphabetic())
        .find(|word| !word.is_empty())?;
    if first.eq_ignore_ascii_case("pass") {
        Some(true)
    } else if first.eq_ignore_ascii_case("fail") {
        Some(false)
    } else {
        None
    }
}

/// A `[fallback]` setting that does not validate: the key, relative to `[fallback]`
/// (`max_attempts`, `checks.refusal_patterns`, `routes.extract.json_schema`), and what is
/// wrong with its value. The config crate turns the key into a file, line and column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fallback.{key}: {message}")]
pub struct FallbackConfigError {
    /// The key within `[fallback]`, dotted.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl FallbackConfigError {
    /// The same error under a parent key (`routes.extract` + `json_schema`).
    pub fn under(self, parent: &str) -> Self {
        FallbackConfigError {
            key: format!("{parent}.{}", self.key),
            message: self.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use triage_types::Usage;

    fn answer(text: &str, finish: FinishReason) -> ChatResponse {
        ChatResponse {
            model: "m".into(),
            text: text.into(),
            thinking: Vec::new(),
            tool_calls: Vec::new(),
            finish_reason: finish,
            usage: Usage::default(),
        }
    }

    fn outcome(
        checks: &QualityChecks,
        request: &ChatRequest,
        class: Option<RouteClass>,
        text: &str,
        finish: FinishReason,
    ) -> String {
        match checks.check(request, class, &answer(text, finish)) {
            Ok(()) => "ok".to_owned(),
            Err(failure) => format!("{}: {failure}", failure.kind()),
        }
    }

    #[test]
    fn final_checks_table() {
        let checks = QualityChecks::default();
        let plain = ChatRequest::from_prompt("What is the capital of France?");
        let mut json = ChatRequest::from_prompt("Extract the name as JSON");
        json.response_format = Some(ResponseFormat::JsonObject);
        let mut schema = ChatRequest::from_prompt("Extract");
        schema.response_format = Some(ResponseFormat::JsonSchema {
            name: "person".into(),
            schema: serde_json::json!({
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}}
            }),
        });
        let essay = ChatRequest::from_prompt("x".repeat(3000));
        let quoted = format!("{} as an AI model", "Paris. ".repeat(60));
        let cases: Vec<(&str, &ChatRequest, Option<RouteClass>, &str, FinishReason)> = vec![
            (
                "plain",
                &plain,
                Some(RouteClass::Faq),
                "Paris.",
                FinishReason::Stop,
            ),
            ("empty", &plain, None, "  \n ", FinishReason::Stop),
            ("cut", &plain, None, "Par", FinishReason::Length),
            ("filtered", &plain, None, "", FinishReason::ContentFilter),
            (
                "refusal",
                &plain,
                None,
                "I'm sorry, but I can't help with that.",
                FinishReason::Stop,
            ),
            (
                "ai",
                &plain,
                None,
                "As an AI language model, I have no opinion.",
                FinishReason::Stop,
            ),
            ("quoted-late", &plain, None, &quoted, FinishReason::Stop),
            (
                "error-shaped",
                &plain,
                None,
                "{\"error\": {\"message\": \"overloaded\"}}",
                FinishReason::Stop,
            ),
            (
                "json-ok",
                &json,
                None,
                "{\"name\": \"Ada\"}",
                FinishReason::Stop,
            ),
            (
                "json-bad",
                &json,
                None,
                "Sure! {\"name\": \"Ada\"}",
                FinishReason::Stop,
            ),
            ("json-array", &json, None, "[1]", FinishReason::Stop),
            (
                "schema-ok",
                &schema,
                None,
                "{\"name\": \"Ada\"}",
                FinishReason::Stop,
            ),
            (
                "schema-bad",
                &schema,
                None,
                "{\"age\": 3}",
                FinishReason::Stop,
            ),
            (
                "short-analysis",
                &essay,
                Some(RouteClass::Analyze),
                "Looks fine.",
                FinishReason::Stop,
            ),
            (
                "short-summary",
                &essay,
                Some(RouteClass::Transform),
                "Short.",
                FinishReason::Stop,
            ),
        ];
        let rendered: Vec<String> = cases
            .into_iter()
            .map(|(name, request, class, text, finish)| {
                format!("{name}: {}", outcome(&checks, request, class, text, finish))
            })
            .collect();
        insta::assert_snapshot!(rendered.join("\n"), @r###"
        plain: ok
        empty: empty: empty answer
        cut: cut_off: answer cut off by the output-token limit
        filtered: filtered: answer ended by a content filter
        refusal: refusal: answer looks like a refusal or an error (pattern `^\W*(i'?m sorry|sorry|unfortunately|apologies)?[,.!]?\s*(but\s+)?i\s*(can'?t|cannot|can not|am unable to|'?m unable to|won'?t be able to|am not able to|'?m not able to)\s+(help|assist|comply|provide|do that|answer|fulfill)`)
        ai: refusal: answer looks like a refusal or an error (pattern `\bas an ai( language)? model\b`)
        quoted-late: ok
        error-shaped: refusal: answer looks like a refusal or an error (pattern `^\s*\{\s*"error"\s*:`)
        json-ok: ok
        json-bad: invalid_json: answer is not valid JSON: expected value at line 1 column 1
        json-array: invalid_json: answer is not valid JSON: expected a JSON object
        schema-ok: ok
        schema-bad: schema_mismatch: answer fails the JSON schema: "name" is a required property
        short-analysis: too_short: answer too short (11 < 80 characters)
        short-summary: too_short: answer too short (6 < 122 characters)
        "###);
    }

    #[test]
    fn config_merges_overrides_and_can_turn_checks_off() {
        let base = ChecksConfig {
            min_chars: Some(10),
            ..ChecksConfig::default()
        };
        let route = ChecksConfig {
            refusal: Some(false),
            ..ChecksConfig::default()
        };
        let merged = base.merged_with(&route);
        assert_eq!(merged.min_chars, Some(10));
        assert_eq!(merged.refusal, Some(false));
        let checks = QualityChecks::from_config(&merged).unwrap();
        let request = ChatRequest::from_prompt("hi");
        let sorry = answer(
            "I'm sorry, but I cannot help with that.",
            FinishReason::Stop,
        );
        assert_eq!(checks.check(&request, None, &sorry), Ok(()));
        let short = answer("hey", FinishReason::Stop);
        assert_eq!(
            checks.check(&request, None, &short),
            Err(QualityFailure::TooShort {
                chars: 3,
                min_chars: 10
            })
        );
        let none = QualityChecks::none();
        assert_eq!(
            none.check(&request, None, &answer("", FinishReason::Length)),
            Ok(())
        );
    }

    #[test]
    fn bad_patterns_and_schemas_are_config_errors() {
        let bad = ChecksConfig {
            refusal_patterns: Some(vec!["(".into()]),
            ..ChecksConfig::default()
        };
        assert!(matches!(
            QualityChecks::from_config(&bad),
            Err(FallbackConfigError { key, .. }) if key == "refusal_patterns"
        ));
        let unknown: Result<ChecksConfig, _> = toml::from_str("min_chars = 5\nwhatever = 1\n");
        assert!(unknown.is_err());
        let judged: ChecksConfig =
            toml::from_str("[judge]\nenabled = true\nmodel = \"gpt-4o-mini\"\n").unwrap();
        let checks = QualityChecks::from_config(&judged).unwrap();
        assert_eq!(checks.judge().unwrap().model, "gpt-4o-mini");
    }

    #[test]
    fn prefix_checks_decide_early() {
        let checks = QualityChecks::default();
        let mut json = ChatRequest::from_prompt("as JSON");
        json.response_format = Some(ResponseFormat::JsonObject);
        assert!(checks.check_prefix(&json, "  {\"a\"").is_ok());
        assert!(checks.check_prefix(&json, "Here is").is_err());
        let plain = ChatRequest::from_prompt("hi");
        assert!(checks.check_prefix(&plain, "I cannot help with").is_err());
        assert!(checks.check_prefix(&plain, "Hello there").is_ok());
    }

    #[test]
    fn judge_verdicts() {
        assert_eq!(parse_judge_verdict("PASS\nfine"), Some(true));
        assert_eq!(parse_judge_verdict("  **Fail**: wrong"), Some(false));
        assert_eq!(parse_judge_verdict("maybe"), None);
        let request = judge_request(&ChatRequest::from_prompt("2+2?"), "4", DEFAULT_JUDGE_RUBRIC);
        assert!(request.all_text().contains("<answer>\n4\n</answer>"));
    }
}
