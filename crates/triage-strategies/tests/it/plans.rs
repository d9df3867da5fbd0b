//! Table-driven route-plan snapshots: request + catalog (+ rules, aliases, filters) → plan.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use time::Date;
use time::macros::date;
use triage_catalog::Catalog;
use triage_strategies::{
    Classification, KeywordStrategy, Policy, ProviderFilter, RouteAlias, Router, Rule, RuleAction,
    RuleMatcher, Rules, Strategy, StrategyError,
};
use triage_types::{
    ChatRequest, ClassScores, ContentPart, Message, ResponseFormat, Role, RouteClass,
    ToolDefinition,
};

const TODAY: Date = date!(2026 - 11 - 29);

fn catalog() -> Catalog {
    Catalog::parse(include_str!("catalog.toml"), "tests/it/catalog.toml")
        .expect("the test catalog is valid")
}

/// A strategy that always answers the same scores, so plans do not move when keyword weights
/// are relearned.
struct Fixed([f32; 6]);

impl Strategy for Fixed {
    fn name(&self) -> &str {
        "fixed"
    }

    fn classify(&self, _request: &ChatRequest) -> Result<Classification, StrategyError> {
        Ok(Classification::from_scores(
            ClassScores(self.0),
            vec!["fixed scores".into()],
        ))
    }
}

fn sure(class: RouteClass) -> Arc<dyn Strategy> {
    let mut scores = [0.0; 6];
    scores[class.index()] = 1.0;
    Arc::new(Fixed(scores))
}

fn router(strategy: Arc<dyn Strategy>) -> Router {
    Router::new(strategy, Policy::from_catalog(&catalog()))
}

/// The value with every float rounded to four decimals, so snapshots do not depend on the last
/// bits of `exp`.
fn rounded(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Number(number) if number.is_f64() => {
            let float = number.as_f64().unwrap_or_default();
            serde_json::json!((float * 10_000.0).round() / 10_000.0)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(rounded).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| (key, rounded(value)))
                .collect(),
        ),
        other => other,
    }
}

/// Routes `request` and snapshots the route, or the error's message.
fn check(name: &str, router: &Router, request: &ChatRequest) {
    let catalog = catalog();
    match router.route(&catalog, request, TODAY) {
        Ok(route) => {
            let value = serde_json::to_value(&route).expect("a route serializes");
            insta::assert_yaml_snapshot!(name, rounded(value));
        }
        Err(error) => insta::assert_snapshot!(name, error.to_string()),
    }
}

#[test]
fn plans() {
    let faq = router(sure(RouteClass::Faq));
    check(
        "faq_short_prompt",
        &faq,
        &ChatRequest::from_prompt("What does HTTP 404 mean?"),
    );

    let mut image = ChatRequest::from_prompt("What is in this picture?");
    image.messages[0].content.push(ContentPart::Image {
        url: "data:image/png;base64,AA==".into(),
    });
    check("faq_with_image_skips_models_without_vision", &faq, &image);

    let long = ChatRequest::from_prompt("word ".repeat(20_000));
    check("faq_too_long_for_the_small_window", &faq, &long);

    let mut long_answer = ChatRequest::from_prompt("List every prime below ten million.");
    long_answer.max_output_tokens = Some(20_000);
    check("faq_output_cap_beyond_small_models", &faq, &long_answer);

    let transform = router(sure(RouteClass::Transform));
    check(
        "transform_retired_model_resolves_to_successor",
        &transform,
        &ChatRequest::from_prompt("Rewrite this more politely: send it now."),
    );

    let mut json_tools =
        ChatRequest::from_prompt("Summarise this as JSON: the meeting moved to Friday.");
    json_tools
        .messages
        .insert(0, Message::text(Role::System, "You are terse."));
    json_tools.response_format = Some(ResponseFormat::JsonObject);
    json_tools.tools.push(ToolDefinition {
        name: "save".into(),
        description: Some("Saves a note".into()),
        parameters: serde_json::json!({"type": "object"}),
    });
    check(
        "transform_json_and_tools_filter_candidates",
        &transform,
        &json_tools,
    );

    let critical = router(sure(RouteClass::Critical));
    check(
        "critical_deprecated_model_warns",
        &critical,
        &ChatRequest::from_prompt("Write a wedding speech for my sister."),
    );

    let mut no_anthropic = Policy::from_catalog(&catalog());
    no_anthropic.set_providers(ProviderFilter {
        enabled: None,
        disabled: BTreeSet::from(["anthropic".to_owned()]),
    });
    let disabled = Router::new(sure(RouteClass::Critical), no_anthropic.clone());
    check(
        "critical_with_its_provider_disabled_has_no_candidate",
        &disabled,
        &ChatRequest::from_prompt("A poem"),
    );
    let analyze = Router::new(sure(RouteClass::Analyze), no_anthropic);
    check(
        "analyze_with_a_provider_disabled",
        &analyze,
        &ChatRequest::from_prompt("Review my code"),
    );

    let close_call = router(Arc::new(Fixed([0.0, 0.35, 0.0, 0.3, 0.2, 0.15])));
    check(
        "low_confidence_escalates_to_the_pricier_class",
        &close_call,
        &ChatRequest::from_prompt("Is Rust fast?"),
    );

    let keyword = router(Arc::new(KeywordStrategy::embedded().unwrap()));
    check(
        "keyword_strategy_reads_the_system_prompt_too",
        &keyword,
        &ChatRequest {
            messages: vec![
                Message::text(Role::System, "You are a poet."),
                Message::user("Write a poem about autumn leaves."),
            ],
            ..ChatRequest::default()
        },
    );
}

#[test]
fn rules_come_first() {
    let rules = Rules::new(vec![
        Rule {
            name: "legal".into(),
            matcher: RuleMatcher::contains("contract"),
            action: RuleAction {
                class: Some(RouteClass::Critical),
                model: None,
            },
        },
        Rule {
            name: "tickets".into(),
            matcher: RuleMatcher::regex(r"\bticket-\d+").unwrap(),
            action: RuleAction {
                class: None,
                model: Some("mini".into()),
            },
        },
    ]);
    let router = router(sure(RouteClass::Faq)).with_rules(rules);
    check(
        "rule_forces_class",
        &router,
        &ChatRequest::from_prompt("Is this Contract clause enforceable?"),
    );
    check(
        "rule_forces_model",
        &router,
        &ChatRequest::from_prompt("Close TICKET-42 with a short note"),
    );
}

#[test]
fn aliases() {
    let mut policy = Policy::from_catalog(&catalog());
    policy.set_alias("cheap-json", RouteAlias::Model("nano".into()));
    policy.set_alias(
        "no-frontier",
        RouteAlias::Routes(BTreeMap::from([(
            RouteClass::Critical,
            vec!["strong".to_owned()],
        )])),
    );
    let router = Router::new(sure(RouteClass::Critical), policy);
    let catalog = catalog();
    let request = ChatRequest::from_prompt("Write a haiku");
    let fixed = router
        .route_alias(&catalog, "cheap-json", &request, TODAY)
        .unwrap()
        .unwrap();
    insta::assert_yaml_snapshot!(
        "alias_fixed_model",
        rounded(serde_json::to_value(&fixed).unwrap())
    );
    let routes = router
        .route_alias(&catalog, "no-frontier", &request, TODAY)
        .unwrap()
        .unwrap();
    insta::assert_yaml_snapshot!(
        "alias_routes",
        rounded(serde_json::to_value(&routes).unwrap())
    );
    assert!(
        router
            .route_alias(&catalog, "nope", &request, TODAY)
            .is_none()
    );
}

#[test]
fn class_prices_order_the_classes() {
    let catalog = catalog();
    let policy = Policy::from_catalog(&catalog);
    let price = |class| {
        policy
            .class_price(&catalog, class, TODAY)
            .unwrap()
            .to_string()
    };
    assert_eq!(price(RouteClass::Faq), "0.175");
    assert_eq!(price(RouteClass::Transform), "2");
    assert_eq!(price(RouteClass::Critical), "30");
}

/// The cost-quality knob's choice across its range, for prompts of different class
/// probabilities and difficulty: at 0 the cheapest candidate, at 1 the best expected quality,
/// in between the trade the table and the prices make; nothing dearer than the baseline below 1.
/// A high-stakes request (p(critical) ≥ 0.3) goes to no tier below the floor, or to the
/// highest tier under the baseline's price when none reaches it.
#[test]
fn knob_decisions_across_its_range() {
    let table = triage_strategies::QualityTable::parse(
        r#"
[difficulty]
reference = "mini"
intercept = 6.0
easy_above = 0.9
hard_below = 0.6
[difficulty.weights]
length = -0.5
latex = -2.0

[priors.default]
tier1 = [0.8, 0.6, 0.3]
tier2 = [0.85, 0.7, 0.4]
tier3 = [0.88, 0.75, 0.5]
tier4 = [0.92, 0.82, 0.65]
tier5 = [0.95, 0.88, 0.75]

[classes.faq]
nano = [0.9, 0.85, 0.8]
strong = [0.92, 0.88, 0.84]
"#,
        "test table",
    )
    .unwrap();
    let table = Arc::new(table);
    let floor = triage_strategies::HighStakes::default();
    let no_floor = triage_strategies::HighStakes {
        min_tier: 1,
        ..floor
    };
    let unsure_critical =
        || -> Arc<dyn Strategy> { Arc::new(Fixed([0.0, 0.5, 0.0, 0.0, 0.0, 0.5])) };
    let prompts: [(&str, Arc<dyn Strategy>, &str, _); 5] = [
        (
            "faq, easy",
            sure(RouteClass::Faq),
            "What is the capital of France?",
            floor,
        ),
        (
            "reason, hard",
            sure(RouteClass::Reason),
            "Prove that $\\sum_{k=1}^{n} k^3 = \\left(\\frac{n(n+1)}{2}\\right)^2$ for every $n \\geq 1$, then find $\\int_0^1 x^3 \\, dx$ and explain each step of the induction carefully.",
            floor,
        ),
        (
            "unsure: faq 0.5, critical 0.5",
            unsure_critical(),
            "Should I refinance my mortgage now?",
            floor,
        ),
        (
            "unsure: faq 0.5, critical 0.5, no floor",
            unsure_critical(),
            "Should I refinance my mortgage now?",
            no_floor,
        ),
        (
            "critical, baseline strong",
            sure(RouteClass::Critical),
            "Can I take ibuprofen while on warfarin?",
            triage_strategies::HighStakes {
                min_tier: 5,
                ..floor
            },
        ),
    ];
    let catalog = catalog();
    let mut lines = Vec::new();
    for (name, strategy, prompt, high_stakes) in prompts {
        for knob in [0.0, 0.25, 0.5, 0.75, 1.0] {
            let mut policy = Policy::from_catalog(&catalog);
            policy.set_quality(Some(triage_strategies::QualityPolicy {
                knob,
                candidates: Some(
                    ["nano", "mini", "haiku", "strong", "frontier"]
                        .map(String::from)
                        .to_vec(),
                ),
                baseline: Some("strong".to_owned()),
                table: Arc::clone(&table),
                high_stakes,
            }));
            let router = Router::new(Arc::clone(&strategy), policy);
            let route = router
                .route(&catalog, &ChatRequest::from_prompt(prompt), TODAY)
                .unwrap();
            let choice = route.plan.quality.expect("the knob chose");
            let floor = choice
                .high_stakes_floor
                .map(|tier| format!(", held to tier {tier}"))
                .unwrap_or_default();
            lines.push(format!(
                "{name} @ {knob}: {} (quality {:.3}, price {:.3}× baseline, {}{floor})",
                route.plan.primary.id,
                choice.expected_quality,
                choice.relative_price,
                choice.difficulty.as_str()
            ));
        }
    }
    insta::assert_snapshot!(lines.join("\n"));
}

/// The reasoning effort a plan asks for, by class and difficulty (`-`: unknown, the knob off).
#[test]
fn reasoning_effort_by_class_and_difficulty() {
    use triage_strategies::{Bucket, planned_effort};
    let mut table = String::from("class      -       easy    medium  hard\n");
    for class in RouteClass::ALL {
        table.push_str(&format!("{:<10}", class.as_str()));
        for difficulty in [
            None,
            Some(Bucket::Easy),
            Some(Bucket::Medium),
            Some(Bucket::Hard),
        ] {
            table.push_str(&format!(
                " {:<7}",
                planned_effort(class, difficulty).as_str()
            ));
        }
        table.truncate(table.trim_end().len());
        table.push('\n');
    }
    insta::assert_snapshot!(table);
}

/// A plan with reasoning models prices their assumed reasoning into its estimate; a client's
/// effort replaces the planned one.
#[test]
fn plans_carry_the_effort_and_price_its_reasoning() {
    use triage_strategies::ReasoningSource;
    use triage_types::ReasoningEffort;
    let router = router(sure(RouteClass::Reason));
    let request = ChatRequest::from_prompt("Plan the migration of a database in three phases.");
    let route = router.route(&catalog(), &request, TODAY).unwrap();
    let plan = &route.plan;
    let reasoning = plan
        .reasoning
        .expect("the reason route has a reasoning model");
    assert_eq!(
        (reasoning.effort, reasoning.source),
        (ReasoningEffort::Medium, ReasoningSource::Planned)
    );
    if plan.primary.reasoning.is_some() {
        assert!(plan.estimated_reasoning_tokens > 0, "{plan:?}");
    }

    let asked = ChatRequest {
        reasoning_effort: Some(ReasoningEffort::Minimal),
        ..request.clone()
    };
    let route = router.route(&catalog(), &asked, TODAY).unwrap();
    let reasoning = route.plan.reasoning.unwrap();
    assert_eq!(
        (reasoning.effort, reasoning.source),
        (ReasoningEffort::Minimal, ReasoningSource::Client)
    );
}

/// What each kind of control is sent at each effort: the nearest effort the model accepts
/// (an effort model, a budget model), thinking that is off by default only from `medium` up
/// (extended) or above `none` (adaptive), nothing to a model that takes no control.
#[test]
fn each_control_is_sent_the_effort_it_takes() {
    use triage_catalog::{EffortSet, ReasoningControl, ReasoningSpec};
    use triage_strategies::{PlannedModel, ReasoningPlan, ReasoningSource};
    use triage_types::ReasoningEffort::{self, High, Low, Medium, Minimal, None as Off, Xhigh};
    let catalog = catalog();
    let model = catalog.get("reasoner").unwrap();
    let step = |spec: Option<ReasoningSpec>| PlannedModel {
        reasoning: spec,
        ..PlannedModel::new(model, RouteClass::Reason, None)
    };
    let at = |effort| ReasoningPlan {
        effort,
        source: ReasoningSource::Planned,
        difficulty: None,
    };
    let usual = |control| Some(ReasoningSpec::of_control(control, 64_000));
    let gpt_5_1 = Some(ReasoningSpec {
        control: ReasoningControl::Effort,
        efforts: EffortSet::of(&[Off, Low, Medium, High]),
        default_effort: Off,
    });
    let cases: [(
        Option<ReasoningSpec>,
        ReasoningEffort,
        Option<ReasoningEffort>,
    ); 14] = [
        (usual(ReasoningControl::Effort), Low, Some(Low)),
        (usual(ReasoningControl::Effort), Off, Some(Low)),
        (usual(ReasoningControl::Effort), Xhigh, Some(High)),
        (gpt_5_1, Off, Some(Off)),
        (gpt_5_1, Minimal, Some(Low)),
        (gpt_5_1, Xhigh, Some(High)),
        (usual(ReasoningControl::ThinkingBudget), Low, Some(Low)),
        (usual(ReasoningControl::ThinkingBudget), Off, Some(Minimal)),
        (usual(ReasoningControl::ExtendedThinking), Low, None),
        (
            usual(ReasoningControl::ExtendedThinking),
            Medium,
            Some(Medium),
        ),
        (usual(ReasoningControl::AdaptiveThinking), Off, None),
        (
            usual(ReasoningControl::AdaptiveThinking),
            Minimal,
            Some(Low),
        ),
        (
            usual(ReasoningControl::AdaptiveThinking),
            Xhigh,
            Some(Xhigh),
        ),
        (None, High, None),
    ];
    for (spec, effort, sent) in cases {
        assert_eq!(
            ReasoningPlan::effort_for(Some(&at(effort)), &step(spec)),
            sent,
            "{spec:?} at {effort:?}"
        );
    }
    assert_eq!(
        ReasoningPlan::effort_for(None, &step(usual(ReasoningControl::Effort))),
        None
    );
    // A budget that leaves no room for an answer is not an effort the model takes.
    let small = ReasoningSpec::of_control(ReasoningControl::ExtendedThinking, 32_000);
    assert_eq!(small.effort_sent(Xhigh), Some(High));
}

/// The reasoning prior never takes the estimate past a client's output cap: the providers count
/// reasoning tokens against it.
#[test]
fn reasoning_estimate_stays_within_the_output_cap() {
    let catalog = catalog();
    let policy = Policy::from_catalog(&catalog);
    let plan_with = |cap: Option<u32>| {
        let mut request = ChatRequest::from_prompt("Plan the schedule step by step.");
        request.max_output_tokens = cap;
        policy
            .plan(&catalog, RouteClass::Reason, &request, TODAY)
            .unwrap()
    };
    let uncapped = plan_with(None);
    assert_eq!(uncapped.primary.id, "reasoner");
    assert!(uncapped.estimated_reasoning_tokens > 0, "{uncapped:?}");
    for cap in [50, 600, 1_000, 100_000] {
        let plan = plan_with(Some(cap));
        assert!(
            plan.estimated_output_tokens + plan.estimated_reasoning_tokens <= u64::from(cap),
            "cap {cap}: {} answer + {} reasoning",
            plan.estimated_output_tokens,
            plan.estimated_reasoning_tokens
        );
    }
    assert_eq!(
        plan_with(Some(100_000)).estimated_reasoning_tokens,
        uncapped.estimated_reasoning_tokens
    );
}
