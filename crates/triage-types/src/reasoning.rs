//! Reasoning as a request asks for it and as a model takes it: the effort, the efforts a
//! model accepts, and the form its provider's API steers thinking in.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How hard a reasoning model thinks before it answers, in OpenAI's `reasoning_effort` terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReasoningEffort {
    /// No reasoning (GPT-5.1 and later).
    None,
    /// As little as possible (GPT-5).
    Minimal,
    /// A little.
    Low,
    /// The providers' usual default.
    Medium,
    /// A lot.
    High,
    /// As much as the model allows (GPT-5.2 and later).
    Xhigh,
}

impl ReasoningEffort {
    /// Every effort, least first.
    pub const ALL: [ReasoningEffort; 6] = [
        ReasoningEffort::None,
        ReasoningEffort::Minimal,
        ReasoningEffort::Low,
        ReasoningEffort::Medium,
        ReasoningEffort::High,
        ReasoningEffort::Xhigh,
    ];

    /// The wire name (`low`, `medium`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            ReasoningEffort::None => "none",
            ReasoningEffort::Minimal => "minimal",
            ReasoningEffort::Low => "low",
            ReasoningEffort::Medium => "medium",
            ReasoningEffort::High => "high",
            ReasoningEffort::Xhigh => "xhigh",
        }
    }

    /// The effort named `name`, if any.
    pub fn parse(name: &str) -> Option<ReasoningEffort> {
        ReasoningEffort::ALL
            .into_iter()
            .find(|effort| effort.as_str() == name)
    }

    /// The thinking budget in tokens this effort stands for, on APIs steered by a budget
    /// (Anthropic's `thinking.budget_tokens`, Gemini's `thinkingConfig.thinkingBudget`): none
    /// at `none` (Gemini's 0 turns thinking off), 512 at `minimal` (the smallest budget every
    /// Gemini thinking model accepts), 1,024 at `low` (Anthropic's minimum), then 4,096, 16,384
    /// and 32,768.
    pub const fn thinking_budget(self) -> u32 {
        match self {
            ReasoningEffort::None => 0,
            ReasoningEffort::Minimal => 512,
            ReasoningEffort::Low => 1_024,
            ReasoningEffort::Medium => 4_096,
            ReasoningEffort::High => 16_384,
            ReasoningEffort::Xhigh => 32_768,
        }
    }

    /// Whether this effort turns on thinking that is off unless asked for (Anthropic's
    /// extended thinking): from `medium` up; below it the model answers without thinking.
    pub fn enables_extended_thinking(self) -> bool {
        self >= ReasoningEffort::Medium
    }

    /// The effort, `low` to `xhigh`, whose [`thinking_budget`](Self::thinking_budget) is
    /// nearest `budget` on a log scale (the greater on a tie): what a client's own thinking
    /// budget asks for in effort terms.
    pub fn nearest_to_budget(budget: u64) -> ReasoningEffort {
        // The larger of the two over the smaller: the log distance, exponentiated.
        let distance = |effort: ReasoningEffort| {
            let own = u64::from(effort.thinking_budget());
            let (high, low) = if own > budget {
                (own, budget)
            } else {
                (budget, own)
            };
            high as f64 / low.max(1) as f64
        };
        [
            ReasoningEffort::Low,
            ReasoningEffort::Medium,
            ReasoningEffort::High,
            ReasoningEffort::Xhigh,
        ]
        .into_iter()
        .min_by(|a, b| distance(*a).total_cmp(&distance(*b)).then(b.cmp(a)))
        .unwrap_or(ReasoningEffort::Medium)
    }
}

/// How a reasoning model's thinking is steered on its provider's API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasoningControl {
    /// OpenAI's `reasoning_effort` (`none`, `minimal`, `low`, `medium`, `high`, `xhigh`, as
    /// each model accepts).
    Effort,
    /// A thinking budget on a model that thinks by default (Gemini's
    /// `thinkingConfig.thinkingBudget`; 0 turns it off where the model allows).
    ThinkingBudget,
    /// Thinking that is off unless enabled with a budget (Anthropic's extended thinking,
    /// `thinking.budget_tokens`; Gemini 2.5 Flash-Lite's `thinkingBudget`): on from `medium`
    /// effort up, and below it nothing is sent.
    ExtendedThinking,
    /// Anthropic's adaptive thinking (Claude 4.6 and later): `thinking: {"type": "adaptive"}`
    /// with `output_config.effort` (`low`, `medium`, `high`, `max`); the model decides how much
    /// to think. Off at effort `none`, where nothing is sent.
    AdaptiveThinking,
}

impl ReasoningControl {
    /// The name in the catalog and in output.
    pub const fn as_str(self) -> &'static str {
        match self {
            ReasoningControl::Effort => "effort",
            ReasoningControl::ThinkingBudget => "thinking_budget",
            ReasoningControl::ExtendedThinking => "extended_thinking",
            ReasoningControl::AdaptiveThinking => "adaptive_thinking",
        }
    }

    /// Whether a request at `effort` turns thinking on: always for an effort control and a
    /// budget above 0; from `medium` up for extended thinking; above `none` for adaptive.
    pub fn thinks_at(self, effort: ReasoningEffort) -> bool {
        match self {
            ReasoningControl::Effort => effort != ReasoningEffort::None,
            ReasoningControl::ThinkingBudget => effort.thinking_budget() > 0,
            ReasoningControl::ExtendedThinking => effort.enables_extended_thinking(),
            ReasoningControl::AdaptiveThinking => effort != ReasoningEffort::None,
        }
    }

    /// Anthropic's `output_config.effort` for `effort` under adaptive thinking: `low` for the
    /// least that thinks, `max` for `xhigh`.
    pub const fn adaptive_effort(effort: ReasoningEffort) -> &'static str {
        match effort {
            ReasoningEffort::None | ReasoningEffort::Minimal | ReasoningEffort::Low => "low",
            ReasoningEffort::Medium => "medium",
            ReasoningEffort::High => "high",
            ReasoningEffort::Xhigh => "max",
        }
    }

    /// The effort an adaptive-thinking `output_config.effort` stands for, the inverse of
    /// [`adaptive_effort`](Self::adaptive_effort): `max` as `xhigh`, an effort name as itself,
    /// `None` for any other name.
    pub fn effort_of_adaptive(name: &str) -> Option<ReasoningEffort> {
        match name {
            "max" => Some(ReasoningEffort::Xhigh),
            _ => ReasoningEffort::parse(name),
        }
    }

    /// What a request at `effort` sends, in words (`reasoning_effort "high"`, `a thinking
    /// budget of 4096 tokens`, `adaptive thinking at effort "max"`, `no thinking`).
    pub fn sends(self, effort: ReasoningEffort) -> String {
        match self {
            ReasoningControl::Effort => format!("reasoning_effort \"{}\"", effort.as_str()),
            ReasoningControl::ThinkingBudget if !self.thinks_at(effort) => {
                "no thinking (a thinking budget of 0)".to_owned()
            }
            _ if !self.thinks_at(effort) => "no thinking".to_owned(),
            ReasoningControl::ExtendedThinking | ReasoningControl::ThinkingBudget => {
                format!("a thinking budget of {} tokens", effort.thinking_budget())
            }
            ReasoningControl::AdaptiveThinking => format!(
                "adaptive thinking at effort \"{}\"",
                ReasoningControl::adaptive_effort(effort)
            ),
        }
    }
}

/// A set of efforts: those a model accepts.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct EffortSet(u8);

impl EffortSet {
    /// Every effort.
    pub const ALL: EffortSet = EffortSet(0b11_1111);

    /// The set of `efforts`.
    pub fn of(efforts: &[ReasoningEffort]) -> EffortSet {
        efforts.iter().copied().collect()
    }

    const fn bit(effort: ReasoningEffort) -> u8 {
        1 << effort as u8
    }

    /// Whether `effort` is in the set.
    pub const fn contains(self, effort: ReasoningEffort) -> bool {
        self.0 & EffortSet::bit(effort) != 0
    }

    /// The set without `effort`.
    #[must_use]
    pub const fn without(self, effort: ReasoningEffort) -> EffortSet {
        EffortSet(self.0 & !EffortSet::bit(effort))
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The efforts in the set, least first.
    pub fn iter(self) -> impl Iterator<Item = ReasoningEffort> {
        ReasoningEffort::ALL
            .into_iter()
            .filter(move |effort| self.contains(*effort))
    }

    /// The effort of the set nearest to `wanted` in [`ReasoningEffort::ALL`] order, the greater
    /// on a tie (a model that takes `none` and `low` gets `low` for `minimal`); `None` for an
    /// empty set.
    pub fn nearest(self, wanted: ReasoningEffort) -> Option<ReasoningEffort> {
        self.iter().min_by_key(|effort| {
            (
                (*effort as i8 - wanted as i8).abs(),
                std::cmp::Reverse(*effort),
            )
        })
    }
}

impl FromIterator<ReasoningEffort> for EffortSet {
    fn from_iter<I: IntoIterator<Item = ReasoningEffort>>(efforts: I) -> Self {
        EffortSet(
            efforts
                .into_iter()
                .fold(0, |bits, effort| bits | EffortSet::bit(effort)),
        )
    }
}

impl fmt::Debug for EffortSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for EffortSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReasoningEffort::{High, Low, Medium, Minimal, None, Xhigh};

    #[test]
    fn nearest_accepted_effort() {
        let gpt_5_1 = EffortSet::of(&[None, Low, Medium, High]);
        let o3 = EffortSet::of(&[Low, Medium, High]);
        let gpt_5 = EffortSet::of(&[Minimal, Low, Medium, High]);
        let cases = [
            (gpt_5_1, Minimal, Some(Low)),
            (gpt_5_1, Xhigh, Some(High)),
            (gpt_5_1, None, Some(None)),
            (o3, None, Some(Low)),
            (o3, Xhigh, Some(High)),
            (gpt_5, None, Some(Minimal)),
            (gpt_5, Medium, Some(Medium)),
            (EffortSet::default(), Medium, Option::None),
        ];
        for (set, wanted, expected) in cases {
            assert_eq!(set.nearest(wanted), expected, "{set:?} for {wanted:?}");
        }
    }

    #[test]
    fn a_budget_reads_as_the_effort_nearest_on_a_log_scale() {
        let cases = [
            (0, Low),
            (1_024, Low),
            (2_047, Low),
            (2_048, Medium),
            (8_191, Medium),
            (8_192, High),
            (23_170, High),
            (23_171, Xhigh),
            (1_000_000, Xhigh),
        ];
        for (budget, effort) in cases {
            assert_eq!(
                ReasoningEffort::nearest_to_budget(budget),
                effort,
                "{budget}"
            );
        }
        assert_eq!(ReasoningControl::effort_of_adaptive("max"), Some(Xhigh));
        assert_eq!(ReasoningControl::effort_of_adaptive("low"), Some(Low));
        assert_eq!(
            ReasoningControl::effort_of_adaptive("extreme"),
            Option::None
        );
    }

    #[test]
    fn sets_list_least_first_and_serialize_as_names() {
        let set = EffortSet::of(&[High, None, Low]);
        assert_eq!(set.iter().collect::<Vec<_>>(), [None, Low, High]);
        assert_eq!(
            serde_json::to_string(&set).unwrap(),
            r#"["none","low","high"]"#
        );
        assert!(!set.without(High).contains(High));
        assert!(EffortSet::ALL.iter().eq(ReasoningEffort::ALL));
    }

    #[test]
    fn what_each_control_sends() {
        let cases = [
            (ReasoningControl::Effort, None, "reasoning_effort \"none\""),
            (
                ReasoningControl::ThinkingBudget,
                None,
                "no thinking (a thinking budget of 0)",
            ),
            (
                ReasoningControl::ThinkingBudget,
                Minimal,
                "a thinking budget of 512 tokens",
            ),
            (ReasoningControl::ExtendedThinking, Low, "no thinking"),
            (
                ReasoningControl::ExtendedThinking,
                High,
                "a thinking budget of 16384 tokens",
            ),
            (ReasoningControl::AdaptiveThinking, None, "no thinking"),
            (
                ReasoningControl::AdaptiveThinking,
                Xhigh,
                "adaptive thinking at effort \"max\"",
            ),
        ];
        for (control, effort, words) in cases {
            assert_eq!(control.sends(effort), words, "{control:?} at {effort:?}");
        }
    }
}
