//! The rules-first router: user rules, then a strategy, then the low-confidence escalation,
//! then the policy's plan.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use time::Date;
use triage_catalog::Catalog;
use triage_types::{ChatRequest, RouteClass};

use crate::policy::{Policy, RouteAlias, RoutePlan};
use crate::rules::Rules;
use crate::{Strategy, StrategyError};

/// How a request's class (and maybe its model) was decided.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// The class routed.
    pub class: RouteClass,
    /// The strategy's confidence in its class (1 when a rule decided).
    pub confidence: f32,
    /// The strategy that classified, or `rule` when a rule forced the class.
    pub strategy: String,
    /// The rule that matched, if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The model a rule or alias forced, if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forced_model: Option<String>,
    /// Every class's score from the strategy.
    pub scores: BTreeMap<RouteClass, f32>,
    /// Why, in words.
    pub reasons: Vec<String>,
}

/// A decision and the plan made from it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Route {
    /// How the class was decided.
    pub decision: Decision,
    /// Which models to call.
    pub plan: RoutePlan,
}

/// Rules, a strategy and a policy, put together.
#[derive(Clone)]
pub struct Router {
    rules: Rules,
    strategy: Arc<dyn Strategy>,
    policy: Policy,
    low_confidence: f32,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("rules", &self.rules)
            .field("strategy", &self.strategy.name())
            .field("policy", &self.policy)
            .field("low_confidence", &self.low_confidence)
            .finish()
    }
}

/// The default low-confidence threshold: below it, a close call between two classes goes to
/// the one whose model costs more (`LABELS.md`: prefer the more capable class on close calls).
pub const DEFAULT_LOW_CONFIDENCE: f32 = 0.4;

impl Router {
    /// A router with no rules and the default low-confidence threshold.
    pub fn new(strategy: Arc<dyn Strategy>, policy: Policy) -> Self {
        Router {
            rules: Rules::default(),
            strategy,
            policy,
            low_confidence: DEFAULT_LOW_CONFIDENCE,
        }
    }

    /// With these rules, evaluated before the strategy.
    pub fn with_rules(mut self, rules: Rules) -> Self {
        self.rules = rules;
        self
    }

    /// With this low-confidence threshold (0 turns escalation off).
    pub fn with_low_confidence(mut self, threshold: f32) -> Self {
        self.low_confidence = threshold;
        self
    }

    /// The strategy.
    pub fn strategy(&self) -> &dyn Strategy {
        self.strategy.as_ref()
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The rules.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// The low-confidence threshold.
    pub fn low_confidence(&self) -> f32 {
        self.low_confidence
    }

    /// Decides a request's class: the first matching rule, else the strategy, escalated to the
    /// runner-up class when confidence is low and the runner-up's model costs more.
    pub fn decide(
        &self,
        catalog: &Catalog,
        request: &ChatRequest,
        today: Date,
    ) -> Result<Decision, StrategyError> {
        self.decide_with(&self.policy, catalog, request, today)
    }

    fn decide_with(
        &self,
        policy: &Policy,
        catalog: &Catalog,
        request: &ChatRequest,
        today: Date,
    ) -> Result<Decision, StrategyError> {
        let rule = self.rules.first_match(request);
        if let Some(rule) = rule
            && let Some(class) = rule.action.class
        {
            let mut scores: BTreeMap<RouteClass, f32> =
                RouteClass::ALL.into_iter().map(|c| (c, 0.0)).collect();
            scores.insert(class, 1.0);
            return Ok(Decision {
                class,
                confidence: 1.0,
                strategy: "rule".to_owned(),
                rule: Some(rule.name.clone()),
                forced_model: rule.action.model.clone(),
                scores,
                reasons: vec![format!(
                    "rule {}: {} → class {class}",
                    rule.name,
                    rule.matcher.describe()
                )],
            });
        }
        let verdict = self.strategy.classify(request)?;
        let mut decision = Decision {
            class: verdict.class,
            confidence: verdict.confidence,
            strategy: self.strategy.name().to_owned(),
            rule: None,
            forced_model: None,
            scores: RouteClass::ALL
                .into_iter()
                .map(|c| (c, verdict.scores.get(c)))
                .collect(),
            reasons: verdict.reasons.clone(),
        };
        if let Some(rule) = rule {
            decision.rule = Some(rule.name.clone());
            decision.forced_model = rule.action.model.clone();
            if let Some(model) = &rule.action.model {
                decision.reasons.insert(
                    0,
                    format!(
                        "rule {}: {} → model {model}",
                        rule.name,
                        rule.matcher.describe()
                    ),
                );
            }
        }
        if verdict.confidence < self.low_confidence {
            let (runner_up, runner_up_score) = verdict.runner_up();
            let price = |class| policy.class_price(catalog, class, today);
            if let (Some(chosen), Some(other)) = (price(verdict.class), price(runner_up))
                && other > chosen
            {
                decision.class = runner_up;
                decision.reasons.push(format!(
                    "low confidence {:.2} < {:.2}: close call between {} and {runner_up} ({runner_up_score:.2}); chose the more capable {runner_up}",
                    verdict.confidence, self.low_confidence, verdict.class
                ));
            }
        }
        Ok(decision)
    }

    /// Decides and plans a request.
    pub fn route(
        &self,
        catalog: &Catalog,
        request: &ChatRequest,
        today: Date,
    ) -> Result<Route, StrategyError> {
        let decision = self.decide(catalog, request, today)?;
        self.plan(&self.policy, decision, catalog, request, today)
    }

    /// Decides and plans a request addressed to a route alias; `None` when no alias has that
    /// name. A fixed-model alias forces its model; a routes alias replaces the policy's lists.
    pub fn route_alias(
        &self,
        catalog: &Catalog,
        alias: &str,
        request: &ChatRequest,
        today: Date,
    ) -> Option<Result<Route, StrategyError>> {
        let policy = self.policy.with_alias(alias)?;
        let decided = self
            .decide_with(&policy, catalog, request, today)
            .map(|mut decision| {
                if let Some(RouteAlias::Model(model)) = policy.aliases().get(alias) {
                    decision.forced_model = Some(model.clone());
                    decision
                        .reasons
                        .push(format!("alias {alias} → model {model}"));
                } else {
                    decision
                        .reasons
                        .push(format!("alias {alias}: its own routes"));
                }
                decision
            });
        Some(decided.and_then(|decision| self.plan(&policy, decision, catalog, request, today)))
    }

    /// The plan for a decision: the forced model's, else the class's. A classification too
    /// unsure to trust (below the low-confidence threshold, the strategy's own best class
    /// kept because the runner-up's model is no dearer) starts one tier higher, the cheaper
    /// models kept as the last resort; the plan's reasons say so. This is the only place that
    /// decision is made: what `triage route` shows is what runs.
    fn plan(
        &self,
        policy: &Policy,
        decision: Decision,
        catalog: &Catalog,
        request: &ChatRequest,
        today: Date,
    ) -> Result<Route, StrategyError> {
        let mut plan = match &decision.forced_model {
            Some(model) => policy.plan_forced(catalog, model, decision.class, request, today)?,
            // A rule that set the class asks for that class's route: the knob does not
            // second-guess it.
            None if decision.rule.is_some() => {
                policy.plan(catalog, decision.class, request, today)?
            }
            None => {
                policy.plan_scored(catalog, decision.class, &decision.scores, request, today)?
            }
        };
        let best = decision
            .scores
            .iter()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(class, _)| *class);
        // Under the cost-quality knob the class probabilities already weigh an unsure call.
        let unsure = plan.quality.is_none()
            && decision.rule.is_none()
            && decision.forced_model.is_none()
            && best == Some(decision.class)
            && decision.confidence < self.low_confidence;
        if unsure {
            let cheaper = plan.primary.id.clone();
            let threshold = self.low_confidence;
            let confidence = decision.confidence;
            let tier = plan.primary.tier;
            plan.start_one_tier_higher(format!(
                "low confidence {confidence:.2} < {threshold:.2}: starts above tier {tier}; {cheaper} and its tier kept as the last resort"
            ));
        }
        Ok(Route { decision, plan })
    }
}
