//! The routing policy: a class becomes an ordered plan of models, resolved through the
//! catalog's lifecycle and filtered by what the request needs.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use rust_decimal::Decimal;
use serde::Serialize;
use time::Date;
use triage_catalog::{Catalog, CostOptions, Model, ReasoningSpec};
use triage_types::{ChatRequest, ReasoningEffort, RouteClass, Usage};

use crate::StrategyError;
use crate::quality::{Bucket, HighStakes, QualityChoice, QualityTable, Weighed, choose};
use crate::tokens::{Encoding, TokenCounter};

/// Output tokens assumed per class when estimating a plan's cost (unless the request caps
/// output lower): short answers for `extract` and `faq`, a rewritten text for `transform`,
/// long answers for the rest. Hidden reasoning tokens are not included.
pub const ASSUMED_OUTPUT_TOKENS: [u64; 6] = [150, 150, 400, 700, 1000, 800];

/// Tokens added per message for role and framing when estimating input tokens.
pub const TOKENS_PER_MESSAGE: u64 = 4;

/// What a request needs from a model, derived from the request itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Requirements {
    /// It offers tools.
    pub tools: bool,
    /// It carries an image.
    pub vision: bool,
    /// It asks for JSON output.
    pub json_mode: bool,
    /// The output cap it asks for, if any.
    pub max_output_tokens: Option<u64>,
}

impl Requirements {
    /// The requirements of a request.
    pub fn of(request: &ChatRequest) -> Self {
        Requirements {
            tools: !request.tools.is_empty(),
            vision: request.has_image(),
            json_mode: request.wants_json(),
            max_output_tokens: request.max_output_tokens.map(u64::from),
        }
    }

    /// Why `model` cannot serve these requirements, or `None` when it can.
    fn unmet(&self, model: &Model, input_tokens: u64) -> Option<String> {
        let capabilities = model.capabilities;
        if self.tools && !capabilities.tools {
            return Some("no tool calling".to_owned());
        }
        if self.vision && !capabilities.vision {
            return Some("no image input".to_owned());
        }
        if self.json_mode && !capabilities.json_mode {
            return Some("no JSON mode".to_owned());
        }
        if let Some(wanted) = self.max_output_tokens
            && wanted > model.max_output_tokens
        {
            return Some(format!(
                "max {} output tokens < {wanted} asked",
                model.max_output_tokens
            ));
        }
        let needed = input_tokens + self.max_output_tokens.unwrap_or(0);
        if needed > model.context_window {
            return Some(format!(
                "~{needed} tokens do not fit its {}-token context window",
                model.context_window
            ));
        }
        None
    }
}

/// A route alias: a name clients may use as their `model` (e.g. `cheap-json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteAlias {
    /// Always this model.
    Model(String),
    /// Route by class, with these lists replacing the policy's for the classes named.
    Routes(BTreeMap<RouteClass, Vec<String>>),
}

/// Which providers may be used.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ProviderFilter {
    /// When set, only these providers.
    pub enabled: Option<BTreeSet<String>>,
    /// Never these providers.
    pub disabled: BTreeSet<String>,
}

impl ProviderFilter {
    /// Whether a provider may be used.
    pub fn allows(&self, provider: &str) -> bool {
        if self.disabled.contains(provider) {
            return false;
        }
        self.enabled
            .as_ref()
            .is_none_or(|enabled| enabled.contains(provider))
    }
}

/// Class → candidate models, provider filter, aliases and cost assumptions.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    routes: [Vec<String>; 6],
    providers: ProviderFilter,
    aliases: BTreeMap<String, RouteAlias>,
    assumed_output_tokens: [u64; 6],
    quality: Option<QualityPolicy>,
    reasoning: ReasoningSetting,
}

/// The cost-quality knob and what it weighs: under it the policy picks, per request, the
/// candidate that maximises expected quality minus a price weight.
#[derive(Debug, Clone, PartialEq)]
pub struct QualityPolicy {
    /// 0 = the cheapest adequate model, 1 = the best expected quality whatever it costs.
    pub knob: f64,
    /// The models the knob may choose from; `None`: every model of the routes.
    pub candidates: Option<Vec<String>>,
    /// The model prices are relative to; below knob 1 nothing dearer is chosen.
    pub baseline: Option<String>,
    /// Expected quality per (class, difficulty, model) and the difficulty signal.
    pub table: Arc<QualityTable>,
    /// The floor under high-stakes requests.
    pub high_stakes: HighStakes,
}

/// One model of a plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedModel {
    /// The catalog id of the model to call.
    pub id: String,
    /// Its provider.
    pub provider: String,
    /// The model name the provider's API expects.
    pub api_name: String,
    /// The id that was asked for, when lifecycle resolution replaced it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested: Option<String>,
    /// Its capability tier.
    pub tier: u8,
    /// Which route the model came from.
    pub from_class: RouteClass,
    /// How its reasoning is steered and which efforts it takes, when it is a reasoning model
    /// that takes a control: the plan's [`ReasoningPlan::effort`] goes to it in these terms
    /// ([`ReasoningPlan::effort_for`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<ReasoningSpec>,
}

/// The reasoning effort a plan asks of its reasoning models, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ReasoningPlan {
    /// The effort.
    pub effort: ReasoningEffort,
    /// Who chose it.
    pub source: ReasoningSource,
    /// The difficulty it was planned for (known when the cost-quality knob is on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub difficulty: Option<Bucket>,
}

/// Who chose a plan's reasoning effort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReasoningSource {
    /// The client (`reasoning_effort`, `reasoning.effort`): it always wins.
    Client,
    /// The config's `[routing] reasoning_effort`, one effort for every request.
    Config,
    /// The policy, for the class and difficulty ([`planned_effort`]).
    Planned,
}

/// `[routing] reasoning_effort`: how the policy sets reasoning effort where the client did
/// not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum ReasoningSetting {
    /// By class and difficulty ([`planned_effort`]); the default.
    #[default]
    Auto,
    /// Never: reasoning models think as their providers' defaults say.
    Off,
    /// This effort for every request.
    Fixed(ReasoningEffort),
}

impl std::str::FromStr for ReasoningSetting {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "auto" => Ok(ReasoningSetting::Auto),
            "off" => Ok(ReasoningSetting::Off),
            _ => ReasoningEffort::parse(text)
                .map(ReasoningSetting::Fixed)
                .ok_or_else(|| {
                    let efforts: Vec<&str> =
                        ReasoningEffort::ALL.iter().map(|e| e.as_str()).collect();
                    format!(
                        "`{text}` is not a reasoning setting; expected auto, off or an effort ({})",
                        efforts.join(", ")
                    )
                }),
        }
    }
}

/// The reasoning effort for a request of `class` at `difficulty` (unknown: as for a medium
/// one): `none` for extraction, FAQ and rewriting (sent as the least each model takes: `none`
/// on GPT-5.1 and later, `minimal` on GPT-5, `low` on the o-series; no thinking where it is
/// off unless enabled); `low` for analysis short of hard, `medium` when hard; reasoning `low`,
/// `medium` or `high` by difficulty; critical work `medium`, or `high` when hard. So prompts
/// that need little thought get as little as each model allows, and only hard prompts, where
/// mistakes cost most, get more than the older models' default (`medium`).
pub fn planned_effort(class: RouteClass, difficulty: Option<Bucket>) -> ReasoningEffort {
    match (class, difficulty) {
        (RouteClass::Extract | RouteClass::Faq | RouteClass::Transform, _) => ReasoningEffort::None,
        (RouteClass::Analyze, None | Some(Bucket::Easy | Bucket::Medium))
        | (RouteClass::Reason, Some(Bucket::Easy)) => ReasoningEffort::Low,
        (RouteClass::Analyze, Some(Bucket::Hard))
        | (RouteClass::Reason | RouteClass::Critical, None | Some(Bucket::Medium))
        | (RouteClass::Critical, Some(Bucket::Easy)) => ReasoningEffort::Medium,
        (RouteClass::Reason | RouteClass::Critical, Some(Bucket::Hard)) => ReasoningEffort::High,
    }
}

impl ReasoningPlan {
    /// The plan for `request` of `class` at `difficulty` under `setting`: the client's effort
    /// when it set one, else the setting's; `None` when it is off.
    pub fn of(
        request: &ChatRequest,
        class: RouteClass,
        difficulty: Option<Bucket>,
        setting: ReasoningSetting,
    ) -> Option<Self> {
        let (effort, source) = match (request.reasoning_effort, setting) {
            (Some(effort), _) => (effort, ReasoningSource::Client),
            (None, ReasoningSetting::Off) => return None,
            (None, ReasoningSetting::Fixed(effort)) => (effort, ReasoningSource::Config),
            (None, ReasoningSetting::Auto) => {
                (planned_effort(class, difficulty), ReasoningSource::Planned)
            }
        };
        Some(ReasoningPlan {
            effort,
            source,
            difficulty,
        })
    }

    /// The effort `step` is sent: for a model that takes a control, the accepted effort
    /// nearest the plan's ([`ReasoningSpec::effort_sent`]; none where that leaves thinking
    /// off); none for a model that takes no control.
    pub fn effort_for(
        plan: Option<&ReasoningPlan>,
        step: &PlannedModel,
    ) -> Option<ReasoningEffort> {
        step.reasoning?.effort_sent(plan?.effort)
    }
}

/// `reasoning`, kept only when one of `steps` takes a reasoning control: a plan of models that
/// take none asks for no effort.
fn if_any_reasons<'a>(
    reasoning: Option<ReasoningPlan>,
    mut steps: impl Iterator<Item = &'a PlannedModel>,
) -> Option<ReasoningPlan> {
    reasoning.filter(|_| steps.any(|step| step.reasoning.is_some()))
}

/// Prices `plan`'s estimate on `model`, its primary: its input tokens as counted, the answer
/// tokens assumed and the reasoning prior under the plan's effort.
fn price(plan: &mut RoutePlan, model: &Model) {
    plan.estimated_reasoning_tokens = expected_reasoning_tokens(
        model,
        plan.reasoning.as_ref(),
        plan.estimated_output_tokens,
        plan.requirements.max_output_tokens,
    );
    let usage = Usage {
        input_tokens: plan.estimated_input_tokens,
        output_tokens: plan.estimated_output_tokens + plan.estimated_reasoning_tokens,
        ..Usage::default()
    };
    plan.estimated_cost = model.cost(&usage, CostOptions::default()).ok();
}

/// The hidden reasoning tokens `model` is assumed to spend under `reasoning` (none set: its
/// provider's default), beside `output_tokens` of answer: no more than a client's `cap` on
/// output leaves, since the providers count reasoning against it.
fn expected_reasoning_tokens(
    model: &Model,
    reasoning: Option<&ReasoningPlan>,
    output_tokens: u64,
    cap: Option<u64>,
) -> u64 {
    let prior = model.capabilities.reasoning_spec.map_or(0, |spec| {
        spec.expected_reasoning_tokens(reasoning.map(|reasoning| reasoning.effort))
    });
    cap.map_or(prior, |cap| prior.min(cap.saturating_sub(output_tokens)))
}

impl PlannedModel {
    /// A catalog model as a plan step; `requested` is the id that was asked for when lifecycle
    /// resolution replaced it.
    pub fn new(model: &Model, from_class: RouteClass, requested: Option<String>) -> Self {
        PlannedModel {
            id: model.id.clone(),
            provider: model.provider.clone(),
            api_name: model.api_name.clone(),
            requested,
            tier: model.tier,
            from_class,
            reasoning: model.capabilities.reasoning_spec,
        }
    }
}

/// A candidate that did not make it into the plan, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    /// The model id as listed.
    pub model: String,
    /// Why it was left out.
    pub reason: String,
}

/// What the policy decided for one request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoutePlan {
    /// The class routed.
    pub class: RouteClass,
    /// The model to call first.
    pub primary: PlannedModel,
    /// Models to try next, in order: the class's other candidates, then candidates of more
    /// demanding classes (later in routing-table order) of at least the primary's tier,
    /// without repeats.
    pub fallbacks: Vec<PlannedModel>,
    /// Why, in words.
    pub reasons: Vec<String>,
    /// Lifecycle and constraint warnings worth showing.
    pub warnings: Vec<String>,
    /// Candidates left out, and why.
    pub rejected: Vec<Rejection>,
    /// What the request needs.
    pub requirements: Requirements,
    /// Input tokens, as the primary model counts them.
    pub estimated_input_tokens: u64,
    /// Answer tokens assumed for the estimate.
    pub estimated_output_tokens: u64,
    /// Hidden reasoning tokens assumed on the primary (billed as output, priced in the
    /// estimate): see [`ReasoningSpec::expected_reasoning_tokens`].
    pub estimated_reasoning_tokens: u64,
    /// The estimated cost on the primary model, in US dollars; `None` when a needed price is
    /// unknown.
    pub estimated_cost: Option<Decimal>,
    /// What the cost-quality knob weighed and chose, when it is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality: Option<QualityChoice>,
    /// The reasoning effort asked of the plan's reasoning models; `None` when none of them
    /// takes a control.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<ReasoningPlan>,
}

impl RoutePlan {
    /// Every model of the plan in the order it is walked: the primary, then the fallbacks.
    pub fn models(&self) -> impl Iterator<Item = &PlannedModel> {
        std::iter::once(&self.primary).chain(&self.fallbacks)
    }

    /// A plan that is exactly these catalog models, in order (no policy, no ladder): for
    /// callers that pick the models themselves, such as tests and benchmarks.
    pub fn fixed(
        catalog: &Catalog,
        class: RouteClass,
        ids: &[&str],
    ) -> Result<RoutePlan, StrategyError> {
        let mut models = Vec::with_capacity(ids.len());
        for id in ids {
            models.push(PlannedModel::new(catalog.get(id)?, class, None));
        }
        let mut models = models.into_iter();
        let Some(primary) = models.next() else {
            return Err(StrategyError::NoCandidate {
                class,
                rejected: Vec::new(),
            });
        };
        Ok(RoutePlan {
            class,
            primary,
            fallbacks: models.collect(),
            reasons: vec!["fixed plan".to_owned()],
            warnings: Vec::new(),
            rejected: Vec::new(),
            requirements: Requirements::default(),
            estimated_input_tokens: 0,
            estimated_output_tokens: 0,
            estimated_reasoning_tokens: 0,
            estimated_cost: None,
            quality: None,
            reasoning: None,
        })
    }

    /// Starts the plan one tier above its primary, for a classification too unsure to trust
    /// the cheapest tier: the models of the primary's tier or below move behind the others
    /// (kept as the last resort). Returns `false`, changing nothing, when no model of a higher
    /// tier is planned.
    pub fn start_one_tier_higher(&mut self, reason: String) -> bool {
        let first_tier = self.primary.tier;
        if !self.fallbacks.iter().any(|model| model.tier > first_tier) {
            return false;
        }
        let (low, high): (Vec<PlannedModel>, Vec<PlannedModel>) = self
            .models()
            .cloned()
            .partition(|model| model.tier <= first_tier);
        let mut ordered = high.into_iter().chain(low);
        if let Some(primary) = ordered.next() {
            self.primary = primary;
        }
        self.fallbacks = ordered.collect();
        self.reasons.push(reason);
        true
    }
}

impl Policy {
    /// The catalog's seed routes, every provider allowed, no aliases.
    pub fn from_catalog(catalog: &Catalog) -> Self {
        let routes = RouteClass::ALL.map(|class| catalog.routes().models(class).to_vec());
        Policy {
            routes,
            providers: ProviderFilter::default(),
            aliases: BTreeMap::new(),
            assumed_output_tokens: ASSUMED_OUTPUT_TOKENS,
            quality: None,
            reasoning: ReasoningSetting::Auto,
        }
    }

    /// Sets how reasoning effort is chosen where the client chose none.
    pub fn set_reasoning(&mut self, setting: ReasoningSetting) {
        self.reasoning = setting;
    }

    /// Turns the cost-quality knob on (or off with `None`).
    pub fn set_quality(&mut self, quality: Option<QualityPolicy>) {
        self.quality = quality;
    }

    /// The cost-quality knob's settings, when it is on.
    pub fn quality(&self) -> Option<&QualityPolicy> {
        self.quality.as_ref()
    }

    /// The models the knob chooses from: `[routing] candidates`, else every model of the
    /// routes, in class order, without repeats.
    pub fn quality_candidates(&self) -> Vec<String> {
        if let Some(candidates) = self.quality.as_ref().and_then(|q| q.candidates.clone()) {
            return candidates;
        }
        let mut seen = BTreeSet::new();
        self.routes
            .iter()
            .flatten()
            .filter(|id| seen.insert(id.as_str()))
            .cloned()
            .collect()
    }

    /// Plans a request of `class` whose strategy gave these class `scores`: the class's plan,
    /// and, when the knob is on, the candidate with the best expected quality minus price
    /// weight as its primary (the rest of the plan follows it).
    pub fn plan_scored(
        &self,
        catalog: &Catalog,
        class: RouteClass,
        scores: &BTreeMap<RouteClass, f32>,
        request: &ChatRequest,
        today: Date,
    ) -> Result<RoutePlan, StrategyError> {
        let token_counts = TokenCounts::default();
        let mut plan = self.plan_counted(catalog, class, request, today, &token_counts)?;
        let Some(quality) = &self.quality else {
            return Ok(plan);
        };
        let mut planner = Planner::new(self, catalog, request, today, &token_counts);
        let output_tokens = plan.estimated_output_tokens;
        let text = request.all_text();
        let p_cheap_right = quality.table.difficulty.p_cheap_right(&text);
        let bucket = quality.table.difficulty.bucket(p_cheap_right);
        // The knob weighs candidates on their answer tokens alone, as the outcome data it was
        // fitted on priced them (reasoning included in the measured answers); the chosen
        // plan's estimate adds the reasoning prior for this difficulty.
        let reasoning = ReasoningPlan::of(request, class, Some(bucket), self.reasoning);
        let cost_of = |planner: &mut Planner<'_>, model: &Model| -> Option<f64> {
            let usage = Usage {
                input_tokens: planner.input_tokens(model),
                output_tokens,
                ..Usage::default()
            };
            let cost = model.cost(&usage, CostOptions::default()).ok()?;
            rust_decimal::prelude::ToPrimitive::to_f64(&cost)
        };
        let baseline_cost = quality
            .baseline
            .as_deref()
            .and_then(|id| catalog.resolve(id, today).ok())
            .and_then(|resolved| cost_of(&mut planner, resolved.model))
            .filter(|cost| *cost > 0.0);
        let reference_cost = match baseline_cost {
            Some(cost) => cost,
            None => catalog
                .find(&plan.primary.id)
                .and_then(|model| cost_of(&mut planner, model))
                .filter(|cost| *cost > 0.0)
                .unwrap_or(1.0),
        };
        let mut weighed = Vec::new();
        let mut models = Vec::new();
        for id in self.quality_candidates() {
            let Ok(resolved) = catalog.resolve(&id, today) else {
                continue;
            };
            let model = resolved.model;
            if models
                .iter()
                .any(|(m, _): &(&Model, String)| m.id == model.id)
                || !self.providers.allows(&model.provider)
            {
                continue;
            }
            let tokens = planner.input_tokens(model);
            if planner.requirements.unmet(model, tokens).is_some() {
                continue;
            }
            let Some(cost) = cost_of(&mut planner, model) else {
                continue;
            };
            let relative_price = cost / reference_cost;
            if quality.knob < 1.0 && baseline_cost.is_some() && relative_price > 1.0 + 1e-9 {
                continue;
            }
            weighed.push(Weighed {
                model: model.id.clone(),
                expected_quality: quality
                    .table
                    .expected_quality(scores, bucket, &model.id, model.tier),
                relative_price,
            });
            models.push((model, id));
        }
        let stakes = quality.high_stakes.applies(class, scores);
        let floor = stakes.map(|_| {
            let floor = quality
                .high_stakes
                .floor(models.iter().map(|(model, _)| model.tier));
            // `weighed` and `models` are parallel (one entry per model id): drop from both.
            weighed.retain(|w| {
                models
                    .iter()
                    .any(|(model, _)| model.id == w.model && model.tier >= floor)
            });
            models.retain(|(model, _)| model.tier >= floor);
            floor
        });
        let weight = quality.table.price_weight(quality.knob);
        let Some(index) = choose(weight, &weighed) else {
            plan.reasons
                .push("quality: no candidate fits; the class's plan stands".to_owned());
            plan.reasoning = if_any_reasons(reasoning, plan.models());
            if let Some(primary) = catalog.find(&plan.primary.id) {
                price(&mut plan, primary);
            }
            return Ok(plan);
        };
        let (model, requested) = models[index].clone();
        let chosen = weighed[index].clone();
        let mut order: Vec<usize> = (0..weighed.len()).collect();
        let score = |w: &Weighed| crate::quality::score(weight, w);
        order.sort_by(|a, b| score(&weighed[*b]).total_cmp(&score(&weighed[*a])));
        let runner_up = order
            .iter()
            .map(|i| &weighed[*i])
            .find(|w| w.model != chosen.model);
        let mut reason = format!(
            "quality {} (price weight {:.3}): {} has expected quality {:.3} at {:.3}× the baseline's price; difficulty {} (p(cheap model right) {:.2})",
            quality.knob,
            weight,
            chosen.model,
            chosen.expected_quality,
            chosen.relative_price,
            bucket.as_str(),
            p_cheap_right
        );
        if let Some(other) = runner_up {
            reason.push_str(&format!(
                "; next best {} {:.3} at {:.3}×",
                other.model, other.expected_quality, other.relative_price
            ));
        }
        if let (Some(critical), Some(floor)) = (stakes, floor) {
            reason.push_str(&format!(
                "; high stakes (p(critical) {critical:.2}): tier {floor} or higher"
            ));
        }
        plan.reasons.push(reason);
        if plan.primary.id != model.id {
            let primary = PlannedModel::new(
                model,
                class,
                (model.id != requested).then(|| requested.clone()),
            );
            let rest: Vec<PlannedModel> = plan
                .models()
                .filter(|planned| planned.id != model.id)
                .cloned()
                .collect();
            plan.primary = primary;
            plan.fallbacks = rest;
        }
        plan.reasoning = if_any_reasons(reasoning, plan.models());
        planner.estimate_on(&mut plan, model);
        plan.quality = Some(QualityChoice {
            knob: quality.knob,
            p_cheap_right,
            difficulty: bucket,
            model: chosen.model.clone(),
            expected_quality: chosen.expected_quality,
            relative_price: chosen.relative_price,
            weighed: order.into_iter().map(|i| weighed[i].clone()).collect(),
            high_stakes_floor: floor,
        });
        Ok(plan)
    }

    /// Starts `plan` one tier below its primary, for a client near its budget: among the
    /// routes' models that fit the request, the cheapest of the highest tier below the
    /// primary's becomes the primary, and the plan's models follow it. Returns what changed,
    /// in words, or `None` (the plan untouched) when no cheaper tier fits.
    pub fn start_one_tier_cheaper(
        &self,
        catalog: &Catalog,
        plan: &mut RoutePlan,
        request: &ChatRequest,
        today: Date,
    ) -> Option<String> {
        let token_counts = TokenCounts::default();
        let mut planner = Planner::new(self, catalog, request, today, &token_counts);
        let first_tier = plan.primary.tier;
        let output_tokens = plan.estimated_output_tokens;
        let mut best: Option<(&Model, Decimal, String)> = None;
        for id in self.quality_candidates() {
            let Ok(resolved) = catalog.resolve(&id, today) else {
                continue;
            };
            let model = resolved.model;
            if model.tier >= first_tier || !self.providers.allows(&model.provider) {
                continue;
            }
            let tokens = planner.input_tokens(model);
            if planner.requirements.unmet(model, tokens).is_some() {
                continue;
            }
            let usage = Usage {
                input_tokens: tokens,
                output_tokens,
                ..Usage::default()
            };
            let Ok(cost) = model.cost(&usage, CostOptions::default()) else {
                continue;
            };
            let better = match &best {
                None => true,
                Some((current, current_cost, _)) => {
                    model.tier > current.tier
                        || (model.tier == current.tier && cost < *current_cost)
                }
            };
            if better {
                best = Some((model, cost, id));
            }
        }
        let (model, cost, requested) = best?;
        let replaced = plan.primary.id.clone();
        let rest: Vec<PlannedModel> = plan
            .models()
            .filter(|planned| planned.id != model.id)
            .cloned()
            .collect();
        plan.primary = PlannedModel::new(
            model,
            plan.class,
            (model.id != requested).then_some(requested),
        );
        plan.fallbacks = rest;
        plan.estimated_input_tokens = planner.input_tokens(model);
        plan.estimated_cost = Some(cost);
        let change = format!(
            "routed one tier cheaper: {} instead of {replaced}",
            model.id
        );
        plan.reasons.push(format!("budget: {change}"));
        Some(change)
    }

    /// Moves `id`, one of `plan`'s models, to its front (the rest keep their order), with
    /// the estimate redone for it and `reason` added to the plan's reasons. Returns whether
    /// the plan changed: `false` when `id` is already first or not in the plan (a model the
    /// planner left out does not fit the request).
    pub fn start_with(
        &self,
        catalog: &Catalog,
        plan: &mut RoutePlan,
        request: &ChatRequest,
        today: Date,
        id: &str,
        reason: String,
    ) -> bool {
        let Some(position) = plan.fallbacks.iter().position(|planned| planned.id == id) else {
            return false;
        };
        let Some(model) = catalog.find(id) else {
            return false;
        };
        let first = plan.fallbacks.remove(position);
        let previous = std::mem::replace(&mut plan.primary, first);
        plan.fallbacks.insert(0, previous);
        Planner::new(self, catalog, request, today, &TokenCounts::default())
            .estimate_on(plan, model);
        plan.reasons.push(reason);
        true
    }

    /// Replaces one class's candidate list.
    pub fn set_route(&mut self, class: RouteClass, models: Vec<String>) {
        self.routes[class.index()] = models;
    }

    /// Restricts providers.
    pub fn set_providers(&mut self, providers: ProviderFilter) {
        self.providers = providers;
    }

    /// Adds or replaces an alias.
    pub fn set_alias(&mut self, name: impl Into<String>, alias: RouteAlias) {
        self.aliases.insert(name.into(), alias);
    }

    /// A class's candidate list, as configured (before resolution).
    pub fn route(&self, class: RouteClass) -> &[String] {
        &self.routes[class.index()]
    }

    /// The provider filter.
    pub fn providers(&self) -> &ProviderFilter {
        &self.providers
    }

    /// The aliases, by name.
    pub fn aliases(&self) -> &BTreeMap<String, RouteAlias> {
        &self.aliases
    }

    /// This policy with an alias's per-class routes applied; `None` when the alias is unknown.
    /// A fixed-model alias leaves the routes as they are (its model is forced by the router).
    pub fn with_alias(&self, name: &str) -> Option<Policy> {
        let alias = self.aliases.get(name)?;
        let mut policy = self.clone();
        if let RouteAlias::Routes(routes) = alias {
            for (class, models) in routes {
                policy.set_route(*class, models.clone());
            }
        }
        Some(policy)
    }

    /// Output tokens assumed for a class (before the request's own cap).
    pub fn assumed_output_tokens(&self, class: RouteClass) -> u64 {
        self.assumed_output_tokens[class.index()]
    }

    /// The blended price of a class's first usable candidate for a plain request, in dollars
    /// per million tokens: (3 × input + output) / 4, the usual 3:1 input-to-output blend. Used
    /// to order classes by cost (under- and over-routing).
    pub fn class_price(
        &self,
        catalog: &Catalog,
        class: RouteClass,
        today: Date,
    ) -> Option<Decimal> {
        self.route(class).iter().find_map(|id| {
            let resolved = catalog.resolve(id, today).ok()?;
            let model = resolved.model;
            if !self.providers.allows(&model.provider) {
                return None;
            }
            Some(blended_price(model))
        })
    }

    /// Plans a request of `class`.
    pub fn plan(
        &self,
        catalog: &Catalog,
        class: RouteClass,
        request: &ChatRequest,
        today: Date,
    ) -> Result<RoutePlan, StrategyError> {
        self.plan_counted(catalog, class, request, today, &TokenCounts::default())
    }

    /// [`Policy::plan`] with the request's token counts so far.
    fn plan_counted(
        &self,
        catalog: &Catalog,
        class: RouteClass,
        request: &ChatRequest,
        today: Date,
        token_counts: &TokenCounts,
    ) -> Result<RoutePlan, StrategyError> {
        let mut planner = Planner::new(self, catalog, request, today, token_counts);
        for id in self.route(class) {
            planner.consider(id, class);
        }
        if let Some(primary) = planner.accepted.first().cloned() {
            planner.reasons.push(format!(
                "policy: {} is the first usable candidate for {class}",
                primary.id
            ));
            self.add_ladder(&mut planner, class, primary.tier);
            return Ok(planner.finish(class, primary));
        }
        // Nothing of this class fits (context window, capabilities, providers): climb to the
        // more demanding classes' models, whatever their tier.
        for higher in RouteClass::ALL.into_iter().filter(|other| *other > class) {
            for id in self.route(higher) {
                planner.consider(id, higher);
            }
        }
        let Some(primary) = planner.accepted.first().cloned() else {
            return Err(StrategyError::NoCandidate {
                class,
                rejected: planner
                    .rejected
                    .iter()
                    .map(|rejection| format!("{}: {}", rejection.model, rejection.reason))
                    .collect(),
            });
        };
        planner.reasons.push(format!(
            "policy: no {class} candidate fits; escalated to {} from {}",
            primary.id, primary.from_class
        ));
        planner.warnings.push(format!(
            "no {class} model can serve this request; using {} ({}) instead",
            primary.id, primary.from_class
        ));
        Ok(planner.finish(class, primary))
    }

    /// A plan for a model the client named: as [`Policy::plan_forced`], but with the client's
    /// reasoning effort only. A named model thinks as its provider's default unless the client
    /// says otherwise; the policy's effort is for the requests it routes.
    pub fn plan_named(
        &self,
        catalog: &Catalog,
        model: &str,
        class: RouteClass,
        request: &ChatRequest,
        today: Date,
    ) -> Result<RoutePlan, StrategyError> {
        let mut plan = self.plan_forced(catalog, model, class, request, today)?;
        if plan
            .reasoning
            .is_some_and(|reasoning| reasoning.source != ReasoningSource::Client)
        {
            plan.reasoning = None;
            if let Some(primary) = catalog.find(&plan.primary.id) {
                price(&mut plan, primary);
            }
        }
        Ok(plan)
    }

    /// Plans a request whose primary model is forced (by a rule or a fixed alias); the
    /// fallback ladder is the class's as usual. A forced model that misses a constraint is kept,
    /// with a warning.
    pub fn plan_forced(
        &self,
        catalog: &Catalog,
        model: &str,
        class: RouteClass,
        request: &ChatRequest,
        today: Date,
    ) -> Result<RoutePlan, StrategyError> {
        let token_counts = TokenCounts::default();
        let mut planner = Planner::new(self, catalog, request, today, &token_counts);
        let resolved = catalog.resolve(model, today)?;
        if let Some(warning) = resolved.warning {
            planner.warnings.push(warning.to_string());
        }
        let forced = resolved.model;
        let tokens = planner.input_tokens(forced);
        if let Some(unmet) = planner.requirements.unmet(forced, tokens) {
            planner
                .warnings
                .push(format!("forced model {}: {unmet}", forced.id));
        }
        if !self.providers.allows(&forced.provider) {
            planner.warnings.push(format!(
                "forced model {}: provider {} is disabled",
                forced.id, forced.provider
            ));
        }
        let primary = PlannedModel::new(
            forced,
            class,
            (forced.id != model).then(|| model.to_owned()),
        );
        planner.seen.insert(forced.id.clone());
        planner.accepted.push(primary.clone());
        planner
            .reasons
            .push(format!("policy: {} is forced", primary.id));
        for id in self.route(class) {
            planner.consider(id, class);
        }
        self.add_ladder(&mut planner, class, primary.tier);
        Ok(planner.finish(class, primary))
    }

    fn add_ladder(&self, planner: &mut Planner<'_>, class: RouteClass, primary_tier: u8) {
        for higher in RouteClass::ALL.into_iter().filter(|other| *other > class) {
            for id in self.route(higher) {
                planner.consider_ladder(id, higher, primary_tier);
            }
        }
    }
}

/// (3 × input + output) / 4, in dollars per million tokens.
pub fn blended_price(model: &Model) -> Decimal {
    (Decimal::from(3) * model.pricing.input + model.pricing.output) / Decimal::from(4)
}

/// The estimated input tokens of a request for one token counter: all message text, tool
/// definitions as JSON, and [`TOKENS_PER_MESSAGE`] per message.
pub fn estimate_input_tokens(request: &ChatRequest, counter: TokenCounter) -> u64 {
    input_tokens_from(
        request,
        counter,
        &encoded_counts(request, counter.encoding()),
    )
}

/// The request's message text, then each tool definition, counted under `encoding`.
fn encoded_counts(request: &ChatRequest, encoding: Encoding) -> Vec<u64> {
    std::iter::once(encoding.count(&request.all_text()))
        .chain(
            request
                .tools
                .iter()
                .map(|tool| encoding.count(&tool_text(tool))),
        )
        .collect()
}

/// [`estimate_input_tokens`] from the counts [`encoded_counts`] gives for the counter's
/// encoding.
fn input_tokens_from(request: &ChatRequest, counter: TokenCounter, counts: &[u64]) -> u64 {
    let messages = TOKENS_PER_MESSAGE * request.messages.len() as u64;
    messages
        + counts
            .iter()
            .map(|count| counter.scale(*count))
            .sum::<u64>()
}

/// One request's [`encoded_counts`] for each encoding, each counted at most once however many
/// models, plans and planners ask (the count is most of a plan's cost for a short prompt).
#[derive(Debug, Default)]
struct TokenCounts {
    counts: std::cell::RefCell<HashMap<Encoding, Arc<[u64]>>>,
}

impl TokenCounts {
    fn input_tokens(&self, request: &ChatRequest, counter: TokenCounter) -> u64 {
        let encoding = counter.encoding();
        let counts = self
            .counts
            .borrow_mut()
            .entry(encoding)
            .or_insert_with(|| encoded_counts(request, encoding).into())
            .clone();
        input_tokens_from(request, counter, &counts)
    }
}

/// A tool definition's name, description and parameter schema as text, for counting.
fn tool_text(tool: &triage_types::ToolDefinition) -> String {
    format!(
        "{} {} {}",
        tool.name,
        tool.description.as_deref().unwrap_or(""),
        tool.parameters
    )
}

/// Accumulates one plan.
struct Planner<'a> {
    policy: &'a Policy,
    catalog: &'a Catalog,
    request: &'a ChatRequest,
    today: Date,
    requirements: Requirements,
    token_counts: &'a TokenCounts,
    seen: BTreeSet<String>,
    accepted: Vec<PlannedModel>,
    rejected: Vec<Rejection>,
    reasons: Vec<String>,
    warnings: Vec<String>,
}

impl<'a> Planner<'a> {
    fn new(
        policy: &'a Policy,
        catalog: &'a Catalog,
        request: &'a ChatRequest,
        today: Date,
        token_counts: &'a TokenCounts,
    ) -> Self {
        Planner {
            policy,
            catalog,
            request,
            today,
            requirements: Requirements::of(request),
            token_counts,
            seen: BTreeSet::new(),
            accepted: Vec::new(),
            rejected: Vec::new(),
            reasons: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Redoes `plan`'s estimate for `model`, its new first model: input tokens as it counts
    /// them, the plan's assumed output, and their cost (`None` when a price is unknown).
    fn estimate_on(&mut self, plan: &mut RoutePlan, model: &Model) {
        plan.estimated_input_tokens = self.input_tokens(model);
        price(plan, model);
    }

    fn input_tokens(&mut self, model: &Model) -> u64 {
        let counter = TokenCounter::for_model(&model.provider, &model.api_name);
        self.token_counts.input_tokens(self.request, counter)
    }

    /// Resolves and filters one candidate; accepted ones join the plan in order.
    fn consider(&mut self, id: &str, from_class: RouteClass) {
        self.consider_with(id, from_class, None);
    }

    fn consider_ladder(&mut self, id: &str, from_class: RouteClass, min_tier: u8) {
        self.consider_with(id, from_class, Some(min_tier));
    }

    fn consider_with(&mut self, id: &str, from_class: RouteClass, min_tier: Option<u8>) {
        let catalog = self.catalog;
        let resolved = match catalog.resolve(id, self.today) {
            Ok(resolved) => resolved,
            Err(error) => {
                self.reject(id, error.to_string());
                return;
            }
        };
        let model = resolved.model;
        if self.seen.contains(&model.id) {
            return;
        }
        if min_tier.is_some_and(|tier| model.tier < tier) {
            return;
        }
        if let Some(warning) = &resolved.warning {
            let text = warning.to_string();
            if !self.warnings.contains(&text) {
                self.warnings.push(text);
            }
        }
        if !self.policy.providers.allows(&model.provider) {
            self.reject(id, format!("provider {} is disabled", model.provider));
            return;
        }
        let tokens = self.input_tokens(model);
        if let Some(unmet) = self.requirements.unmet(model, tokens) {
            self.reject(id, unmet);
            return;
        }
        self.seen.insert(model.id.clone());
        self.accepted.push(PlannedModel::new(
            model,
            from_class,
            (model.id != id).then(|| id.to_owned()),
        ));
    }

    fn reject(&mut self, id: &str, reason: String) {
        if self.rejected.iter().any(|rejection| rejection.model == id) {
            return;
        }
        self.rejected.push(Rejection {
            model: id.to_owned(),
            reason,
        });
    }

    fn finish(mut self, class: RouteClass, primary: PlannedModel) -> RoutePlan {
        let catalog = self.catalog;
        let input_tokens = catalog
            .find(&primary.id)
            .map(|model| self.input_tokens(model))
            .unwrap_or_default();
        let assumed = self.policy.assumed_output_tokens(class);
        let output_tokens = self
            .requirements
            .max_output_tokens
            .map_or(assumed, |cap| cap.min(assumed));
        let reasoning = if_any_reasons(
            ReasoningPlan::of(self.request, class, None, self.policy.reasoning),
            self.accepted.iter(),
        );
        let reasoning_tokens = catalog.find(&primary.id).map_or(0, |model| {
            expected_reasoning_tokens(
                model,
                reasoning.as_ref(),
                output_tokens,
                self.requirements.max_output_tokens,
            )
        });
        let usage = Usage {
            input_tokens,
            output_tokens: output_tokens + reasoning_tokens,
            ..Usage::default()
        };
        let estimated_cost = match catalog
            .find(&primary.id)
            .map(|model| model.cost(&usage, CostOptions::default()))
        {
            Some(Ok(cost)) => Some(cost),
            Some(Err(error)) => {
                self.warnings.push(error.to_string());
                None
            }
            None => None,
        };
        let fallbacks = self.accepted.iter().skip(1).cloned().collect();
        RoutePlan {
            class,
            primary,
            fallbacks,
            reasons: self.reasons,
            warnings: self.warnings,
            rejected: self.rejected,
            requirements: self.requirements,
            estimated_input_tokens: input_tokens,
            estimated_output_tokens: output_tokens,
            estimated_reasoning_tokens: reasoning_tokens,
            estimated_cost,
            quality: None,
            reasoning,
        }
    }
}
