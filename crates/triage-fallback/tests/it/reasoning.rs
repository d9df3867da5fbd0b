//! Each step of a plan is sent the plan's reasoning effort when its model takes a control, and
//! none when it does not, whoever set it: a fallback from a reasoning model to one that does not
//! reason must not carry a field that model would refuse.

use std::sync::Arc;

use futures::StreamExt;
use serde_json::Value;
use triage_catalog::{Catalog, ReasoningControl, ReasoningSpec};
use triage_fallback::{Executor, FallbackConfig, FallbackSettings};
use triage_mock::MockUpstream;
use triage_providers::{
    ApiKey, HttpClientOptions, Protocol, ProviderSettings, build_http_client, build_provider,
};
use triage_strategies::{ReasoningPlan, ReasoningSetting, RoutePlan};
use triage_types::{ChatRequest, ReasoningEffort, RouteClass};

const CATALOG: &str = include_str!("fixtures/catalog.toml");

#[tokio::test]
async fn the_effort_goes_to_reasoning_steps_only() {
    let mock = MockUpstream::start().await.unwrap();
    let catalog = Arc::new(Catalog::parse(CATALOG, "fixtures/catalog.toml").unwrap());
    let executor = Executor::builder(
        catalog.clone(),
        FallbackSettings::from_config(&FallbackConfig {
            backoff_base_ms: 1,
            ..FallbackConfig::default()
        })
        .unwrap(),
    )
    .provider(
        build_provider(
            ProviderSettings::new("openai", Protocol::OpenAi, mock.openai_base_url())
                .with_api_key(ApiKey::new("test-key")),
            build_http_client(&HttpClientOptions::default()).unwrap(),
        )
        .unwrap(),
    )
    .build();
    // The first step reasons and fails; the second does not reason.
    let mut plan = RoutePlan::fixed(
        &catalog,
        RouteClass::Reason,
        &["mid-openai", "cheap-openai"],
    )
    .unwrap();
    plan.primary.reasoning = Some(ReasoningSpec::of_control(ReasoningControl::Effort, 100_000));
    plan.fallbacks[0].reasoning = None;
    let client_set = ChatRequest {
        reasoning_effort: Some(ReasoningEffort::Low),
        ..ChatRequest::from_prompt("[mock:status=500] think hard")
    };
    let checks = executor.settings().checks(None, None).clone();
    for (request, effort) in [
        (
            ChatRequest::from_prompt("[mock:status=500] think hard"),
            ReasoningEffort::Medium,
        ),
        (client_set.clone(), ReasoningEffort::Low),
    ] {
        plan.reasoning =
            ReasoningPlan::of(&request, RouteClass::Reason, None, ReasoningSetting::Auto);
        let before = mock.requests().len();
        let _ = executor.execute(&plan, &request, &checks).await;
        let mut stream = executor.stream(plan.clone(), request.clone(), checks.clone());
        while stream.next().await.is_some() {}
        let sent: Vec<Value> = mock.requests()[before..]
            .iter()
            .map(|request| request.body["reasoning_effort"].clone())
            .collect();
        // Each walk: the reasoning step's calls (retried on its 500) with the effort, then the
        // other step's without it.
        let expected = Value::String(effort.as_str().to_owned());
        let (first, second) = sent.split_at(sent.len() / 2);
        assert_eq!(first, second, "both walks send the same");
        let reasoning_calls = first.iter().take_while(|sent| **sent == expected).count();
        assert!(reasoning_calls > 0, "{sent:?}");
        assert!(
            first.len() > reasoning_calls && first[reasoning_calls..].iter().all(Value::is_null),
            "{sent:?}"
        );
    }
}
