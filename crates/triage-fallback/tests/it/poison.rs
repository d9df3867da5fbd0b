//! The poison scenario of issue 14: requests that fail on every provider, mixed into healthy
//! traffic, must not open the breakers that healthy traffic relies on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use triage_catalog::Catalog;
use triage_fallback::{BreakerConfig, Executor, FallbackConfig, FallbackSettings};
use triage_mock::MockUpstream;
use triage_providers::{
    ApiKey, HttpClientOptions, Protocol, ProviderSettings, build_http_client, build_provider,
};
use triage_strategies::RoutePlan;
use triage_types::{ChatRequest, RouteClass};

const CATALOG: &str = include_str!("fixtures/catalog.toml");
const HEALTHY: usize = 400;
const POISON: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_requests_leave_healthy_traffic_answered() {
    let openai = MockUpstream::start().await.unwrap();
    let anthropic = MockUpstream::start().await.unwrap();
    let client = build_http_client(&HttpClientOptions::default()).unwrap();
    let key = || ApiKey::new("test-key");
    let catalog = Arc::new(Catalog::parse(CATALOG, "fixtures/catalog.toml").unwrap());
    let config = FallbackConfig {
        backoff_base_ms: 1,
        breaker: BreakerConfig::default(),
        ..FallbackConfig::default()
    };
    let executor = Executor::builder(
        catalog.clone(),
        FallbackSettings::from_config(&config).unwrap(),
    )
    .provider(
        build_provider(
            ProviderSettings::new("openai", Protocol::OpenAi, openai.openai_base_url())
                .with_api_key(key()),
            client.clone(),
        )
        .unwrap(),
    )
    .provider(
        build_provider(
            ProviderSettings::new("anthropic", Protocol::Anthropic, anthropic.url())
                .with_api_key(key()),
            client,
        )
        .unwrap(),
    )
    .build();
    let plan = RoutePlan::fixed(
        &catalog,
        RouteClass::Faq,
        &[
            "cheap-openai",
            "cheap-anthropic",
            "mid-openai",
            "big-anthropic",
        ],
    )
    .unwrap();
    let checks = executor.settings().checks(None, None).clone();

    let started = Instant::now();
    // One client sends its 40 bad requests in a burst a quarter of the way in.
    let burst = HEALTHY / 4..HEALTHY / 4 + POISON;
    let mut tasks = Vec::new();
    for index in 0..HEALTHY + POISON {
        let poison = burst.contains(&index);
        let prompt = if poison {
            "[mock:status=500] hi"
        } else {
            "What is the capital of France? Answer in one sentence."
        };
        let (executor, plan, checks) = (executor.clone(), plan.clone(), checks.clone());
        tasks.push((
            poison,
            tokio::spawn(async move {
                let request = ChatRequest::from_prompt(prompt);
                executor.execute(&plan, &request, &checks).await.is_ok()
            }),
        ));
        // About 400 healthy requests a second.
        if !poison {
            tokio::time::sleep(Duration::from_micros(2_500)).await;
        }
    }
    let (mut healthy_ok, mut healthy, mut poison_ok) = (0, 0, 0);
    for (poison, task) in tasks {
        let ok = task.await.unwrap();
        if poison {
            poison_ok += usize::from(ok);
        } else {
            healthy += 1;
            healthy_ok += usize::from(ok);
        }
    }
    let rate = healthy_ok as f64 / healthy as f64;
    eprintln!(
        "poison mix: {healthy_ok}/{healthy} healthy answered ({:.1}%), {poison_ok} poison answered, in {:?}",
        rate * 100.0,
        started.elapsed()
    );
    assert_eq!(poison_ok, 0, "the poison requests fail everywhere");
    assert!(rate >= 0.99, "healthy success rate {rate}");
    assert!(started.elapsed() < Duration::from_secs(20));
}
